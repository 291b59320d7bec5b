//! `gatekit token`: mints a development token with the config's issuer, audience and HS256
//! secret.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use gatekit_core::identity::{Hs256Secret, MintClaims, mint_hs256};

use crate::config::Config;

/// Arguments of `gatekit token`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The config must set `[identity] hs256_secret_env`, and that variable must hold the secret
(at least 32 bytes). For development and tests only.

Example:
  GATEKIT_DEV_SECRET=$(openssl rand -hex 32) \\
    gatekit token --config gatekit.toml --sub alice --group dev --ttl 8h")]
pub struct TokenArgs {
    /// The configuration file.
    #[arg(long, short)]
    pub config: PathBuf,
    /// The token's subject (`sub`).
    #[arg(long)]
    pub sub: String,
    /// A group (repeatable).
    #[arg(long)]
    pub group: Vec<String>,
    /// The token's `email`.
    #[arg(long)]
    pub email: Option<String>,
    /// A token id (`jti`), so this token alone can be revoked.
    #[arg(long)]
    pub jti: Option<String>,
    /// How long the token is valid (`30m`, `8h`; at most 30 days).
    #[arg(long, default_value = "1h")]
    pub ttl: String,
}

/// Runs `gatekit token`: prints the token on stdout.
pub fn run(args: &TokenArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let ttl = gatekit_core::policy::parse_duration(&args.ttl).context("--ttl")?;
    let secret = config
        .hs256_secret()?
        .context("`gatekit token` needs `[identity] hs256_secret_env` in the config")?;
    let secret = Hs256Secret::new(secret.expose().to_vec()).context("identity.hs256_secret_env")?;
    let id = &config.identity;
    let claims = MintClaims {
        groups_claim: &id.groups_claim,
        groups: &args.group,
        email: args.email.as_deref(),
        token_id: args.jti.as_deref(),
        ..MintClaims::new(&id.issuer, &id.audience, &args.sub)
    };
    let token = mint_hs256(&claims, &secret, jiff::Timestamp::now(), ttl)?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
