//! Resolving the credentials and files a config names. Each command resolves only what it
//! uses; `serve` resolves everything at start through [`Config::resolve_for_serve`].

use std::path::{Path, PathBuf};

use gatekit_core::Protocol;

use super::{Config, ConfigError, MaskConfig, Secret, TargetConfig, secret};

/// What `serve` needs from outside the config file, resolved before any listener starts.
#[derive(Debug)]
pub struct ServeResources {
    /// The HS256 development secret, when configured.
    pub hs256_secret: Option<Secret>,
    /// The audit chain's HMAC key, when configured.
    pub audit_key: Option<Secret>,
    /// The revoked-tokens file's text, when configured.
    pub revoked: Option<String>,
    /// The state store password, when configured.
    pub state_password: Option<Secret>,
    /// Webhook URLs, in `[[notify]]` order.
    pub notify_urls: Vec<Secret>,
    /// Per-target credentials, in `[[target]]` order.
    pub targets: Vec<TargetResources>,
    /// Per-profile hash keys, in `[[mask]]` order.
    pub mask_keys: Vec<Option<Secret>>,
    /// Literal terms of `terms_file` detectors, as `(detector, terms)`.
    pub detector_terms: Vec<(String, Vec<String>)>,
}

/// One target's resolved credential and files.
#[derive(Debug)]
pub struct TargetResources {
    /// The target's name.
    pub name: String,
    /// The upstream password or token, when the target has one.
    pub credential: Option<Secret>,
    /// Files the target needs that exist, as `(key, path)`.
    pub files: Vec<(&'static str, PathBuf)>,
}

impl Config {
    /// The HS256 development secret named by `identity.hs256_secret_env`.
    pub fn hs256_secret(&self) -> Result<Option<Secret>, ConfigError> {
        self.identity
            .hs256_secret_env
            .as_deref()
            .map(|var| secret::from_env("identity.hs256_secret_env", var))
            .transpose()
    }

    /// The audit chain's HMAC key named by `audit.key_env`.
    pub fn audit_key(&self) -> Result<Option<Secret>, ConfigError> {
        self.audit
            .key_env
            .as_deref()
            .map(|var| secret::from_env("audit.key_env", var))
            .transpose()
    }

    /// The state store password named by `state.password_env`.
    pub fn state_password(&self) -> Result<Option<Secret>, ConfigError> {
        self.state
            .password_env
            .as_deref()
            .map(|v| secret::from_env("state.password_env", v))
            .transpose()
    }

    /// Where `[state]` says the state store is: a `sqlite:` path resolved against the
    /// config's directory, or a `postgres://` URL with the password from `password_env`.
    pub fn state_location(&self) -> Result<crate::state::Location, ConfigError> {
        let password = self.state_password()?;
        crate::state::Location::parse(self.state.url.get_ref(), &self.base_dir, password).map_err(
            |e| ConfigError::Resolve {
                key: "state.url".into(),
                message: e.to_string(),
            },
        )
    }

    /// The audit directory, resolved against the config's directory.
    pub fn audit_dir(&self) -> PathBuf {
        self.path(&self.audit.dir)
    }

    /// The hash key of a masking profile (`hash_key_env`).
    pub fn mask_key(&self, mask: &MaskConfig) -> Result<Option<Secret>, ConfigError> {
        let key = format!("mask \"{}\".hash_key_env", mask.name.get_ref());
        mask.hash_key_env
            .as_deref()
            .map(|var| secret::from_env(&key, var))
            .transpose()
    }

    /// The terms of every `terms_file` detector, read from disk.
    pub fn detector_terms(&self) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
        let mut out = Vec::new();
        for d in self.detectors.iter().map(|d| d.get_ref()) {
            let Some(file) = &d.terms_file else { continue };
            let key = format!("detector \"{}\".terms_file", d.name.get_ref());
            let path = self.path(file);
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Resolve {
                key: key.clone(),
                message: format!("cannot read {}: {e}", path.display()),
            })?;
            let terms: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect();
            if terms.is_empty() {
                return Err(ConfigError::Resolve {
                    key,
                    message: format!("{} holds no terms", path.display()),
                });
            }
            out.push((d.name.get_ref().clone(), terms));
        }
        Ok(out)
    }

    /// Resolves every credential and file the config names, failing on the first that is
    /// missing, unreadable or empty (and naming its key).
    pub fn resolve_for_serve(&self) -> Result<ServeResources, ConfigError> {
        if let Some(jwks) = &self.identity.jwks
            && let Some(path) = jwks.get_ref().strip_prefix("file:")
        {
            self.require_file("identity.jwks", Path::new(path))?;
        }
        let revoked = match &self.identity.revoked_file {
            Some(p) => {
                let path = self.path(p);
                Some(
                    std::fs::read_to_string(&path).map_err(|e| ConfigError::Resolve {
                        key: "identity.revoked_file".into(),
                        message: format!("cannot read {}: {e}", path.display()),
                    })?,
                )
            }
            None => None,
        };
        if let Some(api) = &self.api {
            for (key, file) in [
                ("api.tls_cert_file", &api.tls_cert_file),
                ("api.tls_key_file", &api.tls_key_file),
            ] {
                if let Some(f) = file {
                    self.require_file(key, f)?;
                }
            }
        }
        let notify_urls = self
            .notify
            .iter()
            .enumerate()
            .map(|(i, n)| secret::from_env(&format!("notify[{i}].url_env"), &n.get_ref().url_env))
            .collect::<Result<_, _>>()?;
        let targets = self
            .targets
            .iter()
            .map(|t| self.resolve_target(t.get_ref()))
            .collect::<Result<_, _>>()?;
        let mask_keys = self
            .masks
            .iter()
            .map(|m| self.mask_key(m.get_ref()))
            .collect::<Result<_, _>>()?;
        Ok(ServeResources {
            hs256_secret: self.hs256_secret()?,
            audit_key: self.audit_key()?,
            revoked,
            state_password: self.state_password()?,
            notify_urls,
            targets,
            mask_keys,
            detector_terms: self.detector_terms()?,
        })
    }

    fn require_file(&self, key: &str, file: &Path) -> Result<PathBuf, ConfigError> {
        let path = self.path(file);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(path),
            Ok(_) => Err(ConfigError::Resolve {
                key: key.into(),
                message: format!("{} is not a file", path.display()),
            }),
            Err(e) => Err(ConfigError::Resolve {
                key: key.into(),
                message: format!("cannot read {}: {e}", path.display()),
            }),
        }
    }

    fn resolve_target(&self, t: &TargetConfig) -> Result<TargetResources, ConfigError> {
        let name = t.name.get_ref();
        let key = |k: &str| format!("target \"{name}\".{k}");
        let credential = match t.protocol {
            Protocol::Postgres => match (&t.password_env, &t.password_file) {
                (Some(var), _) => Some(secret::from_env(&key("password_env"), var)?),
                (None, Some(f)) => Some(secret::from_file(&key("password_file"), &self.path(f))?),
                (None, None) => None,
            },
            Protocol::Kubernetes => match (&t.token_env, &t.token_file) {
                (Some(var), _) => Some(secret::from_env(&key("token_env"), var)?),
                (None, Some(f)) => Some(secret::from_file(&key("token_file"), &self.path(f))?),
                (None, None) => None,
            },
            Protocol::Ssh => None,
        };
        // Files that must exist; host keys and the user CA are generated when missing.
        let mut files = Vec::new();
        for (k, f) in [
            ("upstream_ca_file", &t.upstream_ca_file),
            ("tls_cert_file", &t.tls_cert_file),
            ("tls_key_file", &t.tls_key_file),
            ("key_file", &t.key_file),
            ("known_hosts", &t.known_hosts),
            ("ca_file", &t.ca_file),
        ] {
            if let Some(f) = f {
                files.push((k, self.require_file(&key(k), f)?));
            }
        }
        Ok(TargetResources {
            name: name.clone(),
            credential,
            files,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError};
    use crate::state::Location;

    const EXAMPLE: &str = include_str!("../../examples/gatekit.toml");

    fn with_state(state: &str) -> Config {
        let start = EXAMPLE.find("[state]").unwrap();
        let end = EXAMPLE.find("[api]").unwrap();
        let text = format!("{}{state}\n{}", &EXAMPLE[..start], &EXAMPLE[end..]);
        Config::parse(&text, Path::new("test.toml"), Path::new("/etc/gatekit")).unwrap()
    }

    #[test]
    fn sqlite_state_is_relative_to_the_config() {
        let c = with_state("[state]\nurl = \"sqlite:var/gatekit.db\"\n");
        assert!(matches!(
            c.state_location().unwrap(),
            Location::Sqlite(p) if p == Path::new("/etc/gatekit/var/gatekit.db")
        ));
    }

    #[test]
    fn postgres_state_takes_its_password_from_the_environment() {
        // PATH is set wherever tests run; it stands in for a password variable.
        let c = with_state(
            "[state]\nurl = \"postgres://gatekit@db.internal/gatekit\"\npassword_env = \"PATH\"\n",
        );
        assert!(matches!(
            c.state_location().unwrap(),
            Location::Postgres {
                password: Some(_),
                ..
            }
        ));
        let c = with_state(
            "[state]\nurl = \"postgres://gatekit@db.internal/gatekit\"\npassword_env = \"GATEKIT_TEST_SURELY_UNSET_STATE_PW\"\n",
        );
        let err = c.state_location().unwrap_err();
        assert!(
            matches!(&err, ConfigError::Resolve { key, .. } if key == "state.password_env"),
            "{err}"
        );
        let c = with_state("[state]\nurl = \"postgres://gatekit@db.internal\"\n");
        let err = c.state_location().unwrap_err().to_string();
        assert!(
            err.contains("state.url") && err.contains("database"),
            "{err}"
        );
    }
}
