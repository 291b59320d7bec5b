//! Checks that go beyond the schema: unique names, references between tables, values that
//! must parse, and keys that only apply to some protocols.

use std::collections::HashSet;
use std::net::SocketAddr;

use gatekit_core::Protocol;

use gatekit_core::policy::Verdict;

use super::{Config, ConfigError, Source, TargetConfig};

/// Runs every check, returning the first problem found (in file order).
pub fn validate(config: &Config, src: &Source<'_>) -> Result<(), ConfigError> {
    identity(config, src)?;
    state(config, src)?;
    if let Some(api) = &config.api {
        listen_addr(&api.listen, "api.listen", src)?;
        if api.tls_cert_file.is_some() != api.tls_key_file.is_some() {
            return Err(src.invalid(
                &api.listen.span(),
                "api",
                "set both tls_cert_file and tls_key_file, or neither",
            ));
        }
        if api.admin_groups.iter().any(|g| g.trim().is_empty()) {
            return Err(src.invalid(
                &api.listen.span(),
                "api.admin_groups",
                "group names must not be empty",
            ));
        }
    }
    targets(config, src)?;
    rules(config, src)?;
    compiled_policy(config, src)?;
    detectors_and_masks(config, src)?;
    for (i, n) in config.notify.iter().enumerate() {
        if n.get_ref().url_env.trim().is_empty() {
            return Err(src.invalid(
                &n.span(),
                format!("notify[{i}].url_env"),
                "must name an environment variable",
            ));
        }
    }
    if let Some(anomaly) = &config.anomaly {
        let escalates = anomaly.escalate == super::Escalation::Review
            || anomaly
                .escalate_by_kind
                .values()
                .any(|e| *e == super::Escalation::Review);
        if escalates && anomaly.approvers.is_empty() {
            return Err(src.invalid(
                &(0..0),
                "anomaly.approvers",
                "escalating to review needs approvers",
            ));
        }
    }
    Ok(())
}

fn identity(config: &Config, src: &Source<'_>) -> Result<(), ConfigError> {
    let id = &config.identity;
    match &id.jwks {
        Some(jwks) => {
            let v = jwks.get_ref();
            if !(v.starts_with("file:") || v.starts_with("https://")) {
                return Err(src.invalid(
                    &jwks.span(),
                    "identity.jwks",
                    format!("`{v}` is neither `file:PATH` nor an `https://` URL"),
                ));
            }
        }
        None if id.hs256_secret_env.is_none() => {
            return Err(src.invalid(
                &(0..0),
                "identity.jwks",
                "set `jwks` (or, for development, `hs256_secret_env`)",
            ));
        }
        None => {}
    }
    if id.groups_claim.is_empty() || id.groups_claim.split('.').any(str::is_empty) {
        return Err(src.invalid(
            &(0..0),
            "identity.groups_claim",
            "must be a claim name or dotted path",
        ));
    }
    Ok(())
}

fn state(config: &Config, src: &Source<'_>) -> Result<(), ConfigError> {
    let url = &config.state.url;
    let v = url.get_ref();
    if v == "memory:" {
        // The in-memory store exists for embedding and tests: `gatekit approvals` and the
        // other replicas could never see what a serving gateway keeps there.
        return Err(src.invalid(
            &url.span(),
            "state.url",
            "`memory:` keeps nothing and is invisible to `gatekit approvals` and other replicas; \
             use `sqlite:PATH` or a `postgres://` URL"
                .to_owned(),
        ));
    }
    if !(v.starts_with("sqlite:") || v.starts_with("postgres://") || v.starts_with("postgresql://"))
    {
        return Err(src.invalid(
            &url.span(),
            "state.url",
            format!("`{v}` is neither `sqlite:PATH` nor a `postgres://` URL"),
        ));
    }
    Ok(())
}

fn listen_addr(
    addr: &toml::Spanned<String>,
    key: &str,
    src: &Source<'_>,
) -> Result<SocketAddr, ConfigError> {
    addr.get_ref().parse::<SocketAddr>().map_err(|_| {
        src.invalid(
            &addr.span(),
            key,
            format!("`{}` is not an IP:port address", addr.get_ref()),
        )
    })
}

/// Keys that only some protocols take, with the protocols that take them.
fn protocol_keys(t: &TargetConfig) -> [(&'static str, bool, &'static [Protocol]); 17] {
    use Protocol::*;
    [
        ("database", t.database.is_some(), &[Postgres]),
        ("user", t.user.is_some(), &[Postgres, Ssh]),
        ("password_env", t.password_env.is_some(), &[Postgres]),
        ("password_file", t.password_file.is_some(), &[Postgres]),
        ("upstream_tls", t.upstream_tls.is_some(), &[Postgres]),
        (
            "upstream_ca_file",
            t.upstream_ca_file.is_some(),
            &[Postgres],
        ),
        (
            "tls_cert_file",
            t.tls_cert_file.is_some(),
            &[Postgres, Kubernetes],
        ),
        (
            "tls_key_file",
            t.tls_key_file.is_some(),
            &[Postgres, Kubernetes],
        ),
        (
            "allow_plaintext_auth",
            t.allow_plaintext_auth.is_some(),
            &[Postgres],
        ),
        ("roles", t.roles.is_some(), &[Postgres]),
        ("key_file", t.key_file.is_some(), &[Ssh]),
        ("known_hosts", t.known_hosts.is_some(), &[Ssh]),
        ("host_key_file", t.host_key_file.is_some(), &[Ssh]),
        ("user_ca_file", t.user_ca_file.is_some(), &[Ssh]),
        ("ca_file", t.ca_file.is_some(), &[Kubernetes]),
        ("token_env", t.token_env.is_some(), &[Kubernetes]),
        ("token_file", t.token_file.is_some(), &[Kubernetes]),
    ]
}

fn targets(config: &Config, src: &Source<'_>) -> Result<(), ConfigError> {
    let mut names = HashSet::new();
    let mut listens = HashSet::new();
    for spanned in &config.targets {
        let t = spanned.get_ref();
        let name = t.name.get_ref();
        let key = |k: &str| format!("target \"{name}\".{k}");
        if name.is_empty() {
            return Err(src.invalid(&t.name.span(), "target.name", "must not be empty"));
        }
        if !names.insert(name.as_str()) {
            return Err(src.invalid(
                &t.name.span(),
                key("name"),
                format!("duplicate target name `{name}`"),
            ));
        }
        let addr = listen_addr(&t.listen, &key("listen"), src)?;
        if !listens.insert(addr) {
            return Err(src.invalid(
                &t.listen.span(),
                key("listen"),
                format!("{addr} is already used by another target"),
            ));
        }
        for (k, present, protocols) in protocol_keys(t) {
            if present && !protocols.contains(&t.protocol) {
                return Err(src.invalid(
                    &spanned.span(),
                    key(k),
                    format!("does not apply to protocol `{}`", t.protocol),
                ));
            }
        }
        let require = |k: &str, present: bool| {
            if present {
                Ok(())
            } else {
                Err(src.invalid(
                    &spanned.span(),
                    key(k),
                    format!("is required for protocol `{}`", t.protocol),
                ))
            }
        };
        let at_most_one = |a: &str, b: &str, both: bool| {
            if both {
                Err(src.invalid(
                    &spanned.span(),
                    key(a),
                    format!("set `{a}` or `{b}`, not both"),
                ))
            } else {
                Ok(())
            }
        };
        let upstream = t.upstream.get_ref();
        match t.protocol {
            Protocol::Postgres => {
                require("database", t.database.is_some())?;
                require("user", t.user.is_some())?;
                at_most_one(
                    "password_env",
                    "password_file",
                    t.password_env.is_some() && t.password_file.is_some(),
                )?;
                at_most_one(
                    "tls_cert_file",
                    "tls_key_file",
                    t.tls_cert_file.is_some() != t.tls_key_file.is_some(),
                )?;
                if t.upstream_tls == Some(super::UpstreamTls::VerifyFull)
                    && t.upstream_ca_file.is_none()
                {
                    return Err(src.invalid(
                        &spanned.span(),
                        key("upstream_ca_file"),
                        "is required with upstream_tls = \"verify-full\"",
                    ));
                }
                host_port(upstream, &t.upstream, &key("upstream"), src)?;
            }
            Protocol::Ssh => {
                require("user", t.user.is_some())?;
                require("key_file", t.key_file.is_some())?;
                require("known_hosts", t.known_hosts.is_some())?;
                host_port(upstream, &t.upstream, &key("upstream"), src)?;
            }
            Protocol::Kubernetes => {
                require("token_env", t.token_env.is_some() || t.token_file.is_some())?;
                at_most_one(
                    "token_env",
                    "token_file",
                    t.token_env.is_some() && t.token_file.is_some(),
                )?;
                at_most_one(
                    "tls_cert_file",
                    "tls_key_file",
                    t.tls_cert_file.is_some() != t.tls_key_file.is_some(),
                )?;
                if !upstream.starts_with("https://") {
                    return Err(src.invalid(
                        &t.upstream.span(),
                        key("upstream"),
                        format!("`{upstream}` is not an https:// URL"),
                    ));
                }
            }
        }
        if let Some(roles) = &t.roles
            && let Some((g, _)) = roles.0.iter().find(|(g, r)| g.is_empty() || r.is_empty())
        {
            return Err(src.invalid(
                &spanned.span(),
                key("roles"),
                format!("group `{g}` maps to an empty role"),
            ));
        }
    }
    Ok(())
}

fn host_port(
    v: &str,
    span: &toml::Spanned<String>,
    key: &str,
    src: &Source<'_>,
) -> Result<(), ConfigError> {
    let ok = v
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0));
    if ok {
        Ok(())
    } else {
        Err(src.invalid(&span.span(), key, format!("`{v}` is not HOST:PORT")))
    }
}

fn rules(config: &Config, src: &Source<'_>) -> Result<(), ConfigError> {
    let mut names = HashSet::new();
    for spanned in &config.rules {
        let r = spanned.get_ref();
        let name = r.name.get_ref();
        let key = |k: &str| format!("rule \"{name}\".{k}");
        if name.is_empty() {
            return Err(src.invalid(&r.name.span(), "rule.name", "must not be empty"));
        }
        if !names.insert(name.as_str()) {
            return Err(src.invalid(
                &r.name.span(),
                key("name"),
                format!("duplicate rule name `{name}`"),
            ));
        }
        for t in &r.targets {
            let Some(target) = config.target(t.get_ref()) else {
                return Err(src.invalid(
                    &t.span(),
                    key("targets"),
                    format!("unknown target `{}`", t.get_ref()),
                ));
            };
            if let Some(p) = r.protocol
                && p != target.protocol
            {
                return Err(src.invalid(
                    &t.span(),
                    key("targets"),
                    format!(
                        "target `{}` speaks {}, but the rule is for {p}",
                        t.get_ref(),
                        target.protocol
                    ),
                ));
            }
        }
        if r.action == Verdict::Review && r.approvers.is_empty() {
            return Err(src.invalid(
                &spanned.span(),
                key("approvers"),
                "a review rule needs approvers",
            ));
        }
        if r.action != Verdict::Review && (r.approval.is_some() || r.min_approvals.is_some()) {
            return Err(src.invalid(
                &spanned.span(),
                key("approval"),
                "only review rules take approval settings",
            ));
        }
    }
    Ok(())
}

/// Compiles the policy so that patterns, hours, globs and approval scopes are checked at
/// load time, and errors point at the rule's line.
fn compiled_policy(config: &Config, src: &Source<'_>) -> Result<(), ConfigError> {
    if config.policy.default == Verdict::Review {
        return Err(src.invalid(
            &(0..0),
            "policy.default",
            "`review` cannot be a default (it names no approvers); add a catch-all review rule instead",
        ));
    }
    if let Err(e) = gatekit_core::policy::parse_duration(config.policy.review_timeout.get_ref()) {
        return Err(src.invalid(
            &config.policy.review_timeout.span(),
            "policy.review_timeout",
            e.to_string(),
        ));
    }
    if let Some(hours) = config
        .anomaly
        .as_ref()
        .and_then(|a| a.business_hours.as_ref())
        && let Err(e) = hours.get_ref().parse::<gatekit_core::policy::TimeWindow>()
    {
        return Err(src.invalid(&hours.span(), "anomaly.business_hours", e.to_string()));
    }
    match gatekit_core::policy::Policy::compile(config.policy_spec()) {
        Ok(_) => Ok(()),
        Err(e) => {
            let rule = e.rule_index().and_then(|i| config.rules.get(i));
            let span = rule.map(|r| r.span()).unwrap_or(0..0);
            let key = rule
                .map(|r| format!("rule \"{}\"", r.get_ref().name.get_ref()))
                .unwrap_or_else(|| "policy".into());
            Err(src.invalid(&span, key, e.to_string()))
        }
    }
}

use gatekit_core::mask::BUILT_IN_DETECTORS as BUILTIN_DETECTORS;

fn detectors_and_masks(config: &Config, src: &Source<'_>) -> Result<(), ConfigError> {
    let mut detectors: HashSet<&str> = BUILTIN_DETECTORS.iter().copied().collect();
    for spanned in &config.detectors {
        let d = spanned.get_ref();
        let name = d.name.get_ref();
        let key = |k: &str| format!("detector \"{name}\".{k}");
        if name.is_empty() {
            return Err(src.invalid(&d.name.span(), "detector.name", "must not be empty"));
        }
        if !detectors.insert(name.as_str()) {
            let what = if BUILTIN_DETECTORS.contains(&name.as_str()) {
                "a built-in detector"
            } else {
                "another detector"
            };
            return Err(src.invalid(
                &d.name.span(),
                key("name"),
                format!("`{name}` is already {what}"),
            ));
        }
        if d.regex.is_some() == d.terms_file.is_some() {
            return Err(src.invalid(
                &spanned.span(),
                key("regex"),
                "set exactly one of `regex` or `terms_file`",
            ));
        }
    }
    let mut names = HashSet::new();
    for spanned in &config.masks {
        let m = spanned.get_ref();
        let name = m.name.get_ref();
        let key = |k: &str| format!("mask \"{name}\".{k}");
        if !names.insert(name.as_str()) {
            return Err(src.invalid(
                &m.name.span(),
                key("name"),
                format!("duplicate mask name `{name}`"),
            ));
        }
        for t in &m.targets {
            if config.target(t.get_ref()).is_none() {
                return Err(src.invalid(
                    &t.span(),
                    key("targets"),
                    format!("unknown target `{}`", t.get_ref()),
                ));
            }
        }
        for d in &m.detectors {
            if !detectors.contains(d.get_ref().as_str()) {
                return Err(src.invalid(
                    &d.span(),
                    key("detectors"),
                    format!("unknown detector `{}`", d.get_ref()),
                ));
            }
        }
        if m.strategy == super::StrategyName::Hash && m.hash_key_env.is_none() {
            return Err(src.invalid(
                &spanned.span(),
                key("hash_key_env"),
                "strategy = \"hash\" needs hash_key_env",
            ));
        }
    }
    Ok(())
}
