//! [`ApprovalScope`] as JSON: the config spelling, `"once"` or `"window:30m"`.

use crate::policy::ApprovalScope;

/// Writes the scope as config spells it.
pub(super) fn serialize<S: serde::Serializer>(
    scope: &ApprovalScope,
    s: S,
) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(scope, s)
}

/// Reads `"once"` or `"window:<duration>"`.
pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<ApprovalScope, D::Error> {
    let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}
