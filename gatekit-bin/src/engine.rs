//! The decision path shared by `serve`, `check` and `policy test`: the config compiled into a
//! policy and classifiers, and one call from command text to decision.

use gatekit_core::policy::{Decision, Policy, Request, Verdict};
use gatekit_core::sql::{SqlClassifier, SqlContext, SqlOptions};
use gatekit_core::{Class, Classification, Identity, Protocol};
use jiff::Timestamp;

use crate::config::{Config, ConfigError};

/// The compiled policy and the command classifiers of one config.
pub struct Engine {
    policy: Policy,
    sql: SqlClassifier,
}

/// What the engine made of one command.
#[derive(Debug, serde::Serialize)]
pub struct Evaluation {
    /// The command's classes and objects.
    pub classification: Classification,
    /// The decision.
    pub decision: Decision,
}

impl Engine {
    /// Compiles the config's policy and classifiers.
    pub fn from_config(config: &Config) -> Result<Engine, ConfigError> {
        let policy = Policy::compile(config.policy_spec()).map_err(|e| ConfigError::Invalid {
            path: Default::default(),
            line: None,
            key: "rule".into(),
            message: e.to_string(),
        })?;
        let sql = SqlClassifier::new(SqlOptions {
            extra_admin_functions: config.policy.sql_admin_functions.clone(),
            ..SqlOptions::default()
        });
        Ok(Engine { policy, sql })
    }

    /// The compiled policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The SQL classifier.
    pub fn sql(&self) -> &SqlClassifier {
        &self.sql
    }

    /// Classifies one command of `protocol`. Protocols without a classifier in this build
    /// yield `unparsed`, which rules treat as opaque.
    pub fn classify(&self, protocol: Protocol, command: &[u8]) -> Classification {
        match protocol {
            Protocol::Postgres => self
                .sql
                .classify(command, &SqlContext::default())
                .classification(),
            Protocol::Ssh | Protocol::Kubernetes => Classification::of([Class::Unparsed]),
        }
    }

    /// Admits the identity to the target, then classifies and decides the command.
    pub fn evaluate(
        &self,
        identity: &Identity,
        protocol: Protocol,
        target: &str,
        command: &str,
        now: Timestamp,
    ) -> Evaluation {
        let classification = self.classify(protocol, command.as_bytes());
        let admission = self.policy.admit(identity, target);
        if admission.verdict == Verdict::Deny {
            return Evaluation {
                classification,
                decision: admission,
            };
        }
        let decision = self.policy.decide(&Request {
            identity,
            target,
            protocol,
            command: &classification,
            text: command,
            now,
        });
        Evaluation {
            classification,
            decision,
        }
    }

    /// The target a command on `protocol` goes to: `name` when given (it must speak
    /// `protocol`), else the only target of that protocol.
    pub fn resolve_target<'a>(
        &'a self,
        protocol: Protocol,
        name: Option<&'a str>,
    ) -> Result<&'a str, String> {
        if let Some(name) = name {
            return match self.policy.target(name) {
                Some(t) if t.protocol() == protocol => Ok(name),
                Some(t) => Err(format!(
                    "target `{name}` speaks {}, not {protocol}",
                    t.protocol()
                )),
                None => Err(format!("unknown target `{name}`")),
            };
        }
        let mut of_protocol = self.policy.targets().filter(|t| t.protocol() == protocol);
        match (of_protocol.next(), of_protocol.next()) {
            (Some(t), None) => Ok(t.name()),
            (None, _) => Err(format!("no target speaks {protocol}")),
            (Some(a), Some(b)) => Err(format!(
                "several targets speak {protocol} (`{}`, `{}`, …): name one with --target",
                a.name(),
                b.name()
            )),
        }
    }
}
