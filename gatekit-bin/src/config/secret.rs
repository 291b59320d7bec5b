//! Credentials named by `*_env` / `*_file` keys, resolved only by the commands that use them.

use std::fmt;
use std::path::Path;

use super::ConfigError;

/// A resolved credential. Its bytes never appear in `Debug` or `Display` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Secret(bytes.into())
    }

    /// The secret's bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as UTF-8 text.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted; {} bytes])", self.0.len())
    }
}

/// Reads the secret in environment variable `var`, named by config key `key`.
pub fn from_env(key: &str, var: &str) -> Result<Secret, ConfigError> {
    match std::env::var_os(var) {
        None => Err(ConfigError::Resolve {
            key: key.to_owned(),
            message: format!("environment variable {var} is not set"),
        }),
        Some(v) if v.is_empty() => Err(ConfigError::Resolve {
            key: key.to_owned(),
            message: format!("environment variable {var} is empty"),
        }),
        Some(v) => Ok(Secret(v.into_encoded_bytes())),
    }
}

/// Reads the secret in file `path` (trailing newline removed), named by config key `key`.
pub fn from_file(key: &str, path: &Path) -> Result<Secret, ConfigError> {
    let mut bytes = std::fs::read(path).map_err(|e| ConfigError::Resolve {
        key: key.to_owned(),
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(ConfigError::Resolve {
            key: key.to_owned(),
            message: format!("{} is empty", path.display()),
        });
    }
    Ok(Secret(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let s = Secret::new("hunter2-very-secret");
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("19 bytes"));
    }

    #[test]
    fn file_secret_trims_newline_and_names_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\n").unwrap();
        assert_eq!(
            from_file("target.password_file", &p).unwrap().expose(),
            b"s3cret"
        );
        let err = from_file("target.password_file", &dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("target.password_file"), "{err}");
    }

    #[test]
    fn env_secret_errors_name_variable_not_value() {
        let err =
            from_env("identity.hs256_secret_env", "GATEKIT_TEST_SURELY_UNSET_VAR").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("GATEKIT_TEST_SURELY_UNSET_VAR")
                && msg.contains("identity.hs256_secret_env"),
            "{msg}"
        );
    }
}
