//! Loading and validating `gatekit.toml`.
//!
//! [`Config::load`] parses the file into [`types`] and runs [`validate`]: every error names
//! the key and, where the file gives one, the line. Loading never reads environment
//! variables or the files the config names; the commands that need a credential resolve it
//! through [`secret`].

pub mod masks;
pub mod policy;
pub mod resolve;
pub mod secret;
pub mod types;
pub mod validate;

#[cfg(test)]
mod tests;

use std::ops::Range;
use std::path::{Path, PathBuf};

pub use secret::Secret;
pub use types::*;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key or value does not fit the schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value parses but does not make sense (a duplicate name, an unknown reference).
    #[error("{path}{}: `{key}`: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line, when known.
        line: Option<usize>,
        /// The key, as a path (`target[1].name`, `rule "x".targets`).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A credential or file the command needs could not be resolved.
    #[error("`{key}`: {message}")]
    Resolve {
        /// The key that names the credential or file.
        key: String,
        /// What went wrong (never the secret itself).
        message: String,
    },
}

impl Config {
    /// Reads, parses and validates a configuration file. Relative paths in it are resolved
    /// against the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().map(Path::to_owned).unwrap_or_default();
        Config::parse(&text, path, &base)
    }

    /// Parses and validates configuration text; `path` only labels errors.
    pub fn parse(text: &str, path: &Path, base_dir: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.base_dir = base_dir.to_owned();
        validate::validate(&config, &Source { text, path })?;
        Ok(config)
    }

    /// Resolves a path from the file against the config's directory.
    pub fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The target of that name.
    pub fn target(&self, name: &str) -> Option<&TargetConfig> {
        self.targets
            .iter()
            .map(|t| t.get_ref())
            .find(|t| t.name.get_ref() == name)
    }
}

/// The text a config was parsed from, for turning spans into line numbers.
pub struct Source<'a> {
    /// The whole file.
    pub text: &'a str,
    /// Its path, for messages.
    pub path: &'a Path,
}

impl Source<'_> {
    /// The 1-based line a span starts on; `None` for values that were defaulted.
    pub fn line(&self, span: &Range<usize>) -> Option<usize> {
        if span.start == 0 && span.end == 0 {
            return None;
        }
        let upto = self.text.get(..span.start)?;
        Some(upto.bytes().filter(|b| *b == b'\n').count() + 1)
    }

    /// An `Invalid` error at `span`.
    pub fn invalid(
        &self,
        span: &Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            line: self.line(span),
            key: key.into(),
            message: message.into(),
        }
    }
}
