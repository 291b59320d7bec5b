//! `[[mask]]` and `[[detector]]` to compiled [`Masker`]s, shared by `serve` and `mask`.

use std::collections::HashMap;
use std::sync::Arc;

use gatekit_core::mask::{DetectorSpec, MaskSpec, Masker, Strategy};

use super::{Config, ConfigError, MaskConfig, StrategyName};

/// The core's profile for one `[[mask]]`, with the custom detectors it names. Resolves its
/// hash key (`hash_key_env`) and reads the `terms_file` of the detectors it uses.
pub fn mask_spec(
    config: &Config,
    mask: &MaskConfig,
) -> Result<(MaskSpec, Vec<DetectorSpec>), ConfigError> {
    let used = |name: &str| mask.detectors.iter().any(|d| d.get_ref() == name);
    let needs_terms = config
        .detectors
        .iter()
        .any(|d| used(d.get_ref().name.get_ref()) && d.get_ref().terms_file.is_some());
    let terms = if needs_terms {
        config.detector_terms()?
    } else {
        Vec::new()
    };
    let mut custom = Vec::new();
    for d in config.detectors.iter().map(|d| d.get_ref()) {
        let name = d.name.get_ref();
        if !used(name) {
            continue;
        }
        if let Some(regex) = &d.regex {
            custom.push(DetectorSpec::regex(name.as_str(), regex.as_str()));
        } else if let Some((_, list)) = terms.iter().find(|(n, _)| n == name) {
            custom.push(DetectorSpec::terms(name.as_str(), list.iter().cloned()));
        }
    }
    let spec = MaskSpec {
        name: mask.name.get_ref().clone(),
        detectors: mask.detectors.iter().map(|d| d.get_ref().clone()).collect(),
        columns: mask.columns.clone(),
        strategy: match mask.strategy {
            StrategyName::Redact => Strategy::Redact,
            StrategyName::Partial => Strategy::Partial,
            StrategyName::Hash => Strategy::Hash,
            StrategyName::FormatPreserving => Strategy::FormatPreserving,
        },
        hash_key: config.mask_key(mask)?.map(|k| k.expose().to_vec()),
        marker: None,
    };
    Ok((spec, custom))
}

/// Compiles one `[[mask]]`; errors name the profile.
pub fn compile_mask(config: &Config, mask: &MaskConfig) -> Result<Masker, ConfigError> {
    let (spec, custom) = mask_spec(config, mask)?;
    Masker::compile(&spec, &custom).map_err(|e| ConfigError::Resolve {
        key: format!("mask \"{}\"", mask.name.get_ref()),
        message: e.to_string(),
    })
}

/// Every `[[mask]]` compiled, by name (`serve` refuses to start on the first error).
pub fn compile_masks(config: &Config) -> Result<HashMap<String, Arc<Masker>>, ConfigError> {
    config
        .masks
        .iter()
        .map(|m| {
            let m = m.get_ref();
            Ok((m.name.get_ref().clone(), Arc::new(compile_mask(config, m)?)))
        })
        .collect()
}
