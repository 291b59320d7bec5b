//! The identity verifier and key source built from `[identity]`.

use anyhow::Context;
use gatekit_core::Identity;
use gatekit_core::identity::{Hs256Secret, KeySet, Verifier, VerifierConfig};
use jiff::Timestamp;

use crate::config::Config;
use crate::jwks::{JwksSource, read_revoked_file};

/// The verifier settings of `[identity]`.
pub fn verifier_config(config: &Config) -> VerifierConfig {
    let mut vc = VerifierConfig::new(
        config.identity.issuer.clone(),
        config.identity.audience.clone(),
    );
    vc.groups_claim = config.identity.groups_claim.clone();
    vc
}

/// The verifier, with the revoked-tokens file applied when one is configured. Its keys
/// come from the [`key_source`].
pub fn verifier(config: &Config) -> anyhow::Result<Verifier> {
    let mut verifier =
        Verifier::new(verifier_config(config), KeySet::empty()).context("[identity]")?;
    if let Some(file) = &config.identity.revoked_file {
        let revoked = read_revoked_file(&config.path(file)).context("identity.revoked_file")?;
        verifier.set_revocations(revoked);
    }
    Ok(verifier)
}

/// Loads the key source: the JWKS (file or HTTPS) and the HS256 development secret.
pub async fn key_source(config: &Config) -> anyhow::Result<JwksSource> {
    let hs256 = match config.hs256_secret()? {
        Some(s) => {
            Some(Hs256Secret::new(s.expose().to_vec()).context("identity.hs256_secret_env")?)
        }
        None => None,
    };
    let source = match &config.identity.jwks {
        Some(spec) => JwksSource::load(spec.get_ref(), &config.base_dir)
            .await
            .context("identity.jwks")?,
        None => JwksSource::fixed(KeySet::empty()),
    };
    Ok(match hs256 {
        Some(secret) => source.with_hs256_secret(secret),
        None => source,
    })
}

/// Verifies one token as a client's would be, for commands that run once (`check`).
pub fn verify_token_once(config: &Config, token: &str, now: Timestamp) -> anyhow::Result<Identity> {
    let verifier = verifier(config)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let source = key_source(config).await?;
        Ok(source.verify(&verifier, token, now).await?)
    })
}
