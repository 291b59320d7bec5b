//! Who is asking: OIDC JWT verification into an [`Identity`].

/// An authenticated principal, as established from a verified token.
///
/// Sessions end or re-check at [`Identity::expires_at`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// The token's `sub`.
    pub subject: String,
    /// The token's `email`, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The groups from the configured groups claim.
    #[serde(default)]
    pub groups: Vec<String>,
    /// When the token stops being valid (`exp`), if it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<jiff::Timestamp>,
    /// The token's `jti`, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
}

impl Identity {
    /// An identity with a subject and groups and nothing else (tests, dry runs).
    pub fn new(
        subject: impl Into<String>,
        groups: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Identity {
            subject: subject.into(),
            email: None,
            groups: groups.into_iter().map(Into::into).collect(),
            expires_at: None,
            token_id: None,
        }
    }

    /// Whether the identity belongs to `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// Whether the identity belongs to any of `groups`.
    pub fn in_any_group<S: AsRef<str>>(&self, groups: &[S]) -> bool {
        groups.iter().any(|g| self.in_group(g.as_ref()))
    }
}
