//! The client's startup parameters: which pass, which are refused, and the startup packet
//! the gateway sends upstream in their place.
//!
//! The gateway fixes the session's identity settings in the upstream startup packet's
//! `options`, as `-c role=…`, `-c gatekit.user=…` and `-c gatekit.groups=…`. Settings given
//! at startup are the session's defaults, so `RESET ROLE`, `RESET ALL` and `DISCARD ALL`
//! return to them, and the client never sees a statement or a reply for them. A client can
//! still issue `SET ROLE` or `SET gatekit.user` by hand; the SQL classifier makes those
//! `admin`/`dcl`, which policy decides on like any other statement.

use crate::Identity;
use crate::pg::codec::{ProtocolVersion, StartupParams};
use crate::pg::error::PgError;

use super::config::SessionConfig;

/// What the gateway keeps from a client's StartupMessage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientStartup {
    /// The version spoken with the client (3.0 or 3.2).
    pub version: ProtocolVersion,
    /// Whether the client must be told the version or options were negotiated down.
    pub negotiate: bool,
    /// `_pq_.` protocol options the gateway does not support.
    pub unsupported: Vec<String>,
    /// The startup `user`.
    pub user: String,
    /// The startup `database`, if any.
    pub database: Option<String>,
    /// Allowed run-time settings sent as parameters, passed on as parameters.
    pub settings: Vec<(String, String)>,
    /// Allowed `-c name=value` switches from `options`, passed on in `options`.
    pub options: Vec<(String, String)>,
}

const NEVER: &[&str] = &["role", "session_authorization"];

fn setting_allowed(name: &str, config: &SessionConfig) -> bool {
    !NEVER.contains(&name)
        && !name.starts_with("gatekit.")
        && config.allowed_settings.iter().any(|s| s == name)
}

fn truthy(v: &str) -> bool {
    // `replication=database` asks for logical replication; the boolean forms are
    // PostgreSQL's own spellings.
    matches!(
        v.to_ascii_lowercase().as_str(),
        "database" | "true" | "on" | "yes" | "1" | "t" | "y"
    )
}

/// Checks the client's parameters against the allow-list.
pub(crate) fn filter(
    version: ProtocolVersion,
    params: &StartupParams,
    config: &SessionConfig,
) -> Result<ClientStartup, PgError> {
    let mut out = ClientStartup {
        version: if version.minor >= 2 {
            ProtocolVersion::V3_2
        } else {
            ProtocolVersion::V3_0
        },
        negotiate: version.minor != 0 && version.minor != 2,
        unsupported: Vec::new(),
        user: String::new(),
        database: None,
        settings: Vec::new(),
        options: Vec::new(),
    };
    for (name, value) in params.iter() {
        match name {
            "user" => out.user = value.to_owned(),
            "database" => out.database = Some(value.to_owned()),
            "options" => out.options = parse_options(value, config)?,
            "replication" => {
                if truthy(value) {
                    return Err(PgError::ReplicationRefused);
                }
            }
            _ if name.starts_with("_pq_.") => {
                out.negotiate = true;
                out.unsupported.push(name.to_owned());
            }
            _ => {
                let norm = name.to_ascii_lowercase();
                if !setting_allowed(&norm, config) {
                    return Err(PgError::ParameterRefused {
                        name: name.to_owned(),
                    });
                }
                out.settings.push((name.to_owned(), value.to_owned()));
            }
        }
    }
    if out.user.is_empty() {
        return Err(PgError::MissingUser);
    }
    Ok(out)
}

/// Splits `options` the way PostgreSQL does (whitespace separates, a backslash escapes the
/// next character) and keeps the `-c name=value` / `--name=value` switches, every one of
/// which must name an allowed setting.
pub(crate) fn parse_options(
    options: &str,
    config: &SessionConfig,
) -> Result<Vec<(String, String)>, PgError> {
    let args = split_options(options);
    let mut out = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let setting = if arg == "-c" {
            it.next().ok_or_else(|| PgError::OptionRefused {
                option: arg.clone(),
            })?
        } else if let Some(s) = arg.strip_prefix("--").or_else(|| arg.strip_prefix("-c")) {
            s.to_owned()
        } else {
            return Err(PgError::OptionRefused { option: arg });
        };
        let Some((name, value)) = setting.split_once('=') else {
            return Err(PgError::OptionRefused { option: setting });
        };
        let norm = name.to_ascii_lowercase().replace('-', "_");
        if !setting_allowed(&norm, config) {
            return Err(PgError::OptionRefused {
                option: format!("-c {name}"),
            });
        }
        out.push((norm, value.to_owned()));
    }
    Ok(out)
}

fn split_options(s: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_arg = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c.is_ascii_whitespace() || c == '\x0b' {
            if in_arg {
                args.push(std::mem::take(&mut cur));
                in_arg = false;
            }
            continue;
        }
        in_arg = true;
        if c == '\\' {
            if let Some(n) = chars.next() {
                cur.push(n);
            }
        } else {
            cur.push(c);
        }
    }
    if in_arg {
        args.push(cur);
    }
    args
}

/// Escapes a value for `options`: whitespace and backslashes get a backslash.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        if c.is_ascii_whitespace() || c == '\x0b' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
}

fn push_switch(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str("-c ");
    out.push_str(name);
    out.push('=');
    escape_into(out, value);
}

/// The role picked for an identity by `roles`, `Ok(None)` when `roles` is empty.
pub(crate) fn pick_role<'c>(
    identity: &Identity,
    config: &'c SessionConfig,
) -> Result<Option<&'c str>, PgError> {
    if config.roles.is_empty() {
        return Ok(None);
    }
    config
        .roles
        .iter()
        .find(|(group, _)| identity.in_group(group))
        .map(|(_, role)| Some(role.as_str()))
        .ok_or(PgError::NoRole)
}

/// The parameters of the upstream StartupMessage: the held account, the target database,
/// the client's allowed settings, and `options` carrying the client's allowed switches and
/// the gateway's role and identity settings.
pub(crate) fn upstream_params(
    client: &ClientStartup,
    config: &SessionConfig,
    identity: &Identity,
    role: Option<&str>,
) -> Result<Vec<(String, String)>, PgError> {
    let nul = |what, v: &str| {
        if v.contains('\0') {
            Err(PgError::NulInValue { what })
        } else {
            Ok(())
        }
    };
    nul("the token subject", &identity.subject)?;
    for g in &identity.groups {
        nul("a group name", g)?;
    }
    let mut params = vec![("user".to_owned(), config.upstream_user.clone())];
    if let Some(db) = config
        .upstream_database
        .as_ref()
        .or(client.database.as_ref())
    {
        params.push(("database".to_owned(), db.clone()));
    }
    params.extend(client.settings.iter().filter(|(k, _)| !pinned(k)).cloned());
    // The gateway reads the session as UTF-8 text with standard strings: a client asking
    // for another encoding gets UTF-8 (the ParameterStatus tells it so).
    for (k, v) in PINNED {
        params.push(((*k).to_owned(), (*v).to_owned()));
    }
    let mut options = String::new();
    for (name, value) in client.options.iter().filter(|(k, _)| !pinned(k)) {
        push_switch(&mut options, name, value);
    }
    if let Some(role) = role {
        nul("the role name", role)?;
        push_switch(&mut options, "role", role);
    }
    push_switch(&mut options, "gatekit.user", &identity.subject);
    push_switch(&mut options, "gatekit.groups", &identity.groups.join(","));
    params.push(("options".to_owned(), options));
    Ok(params)
}

/// Settings fixed for every upstream session, whatever the client asks.
const PINNED: &[(&str, &str)] = &[
    ("client_encoding", "UTF8"),
    ("standard_conforming_strings", "on"),
];

fn pinned(name: &str) -> bool {
    PINNED.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
}

/// Whether the startup user names the identity, per [`super::UserCheck`].
pub(crate) fn user_matches(user: &str, identity: &Identity) -> bool {
    user == identity.subject
        || identity
            .email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SessionConfig {
        SessionConfig::new("t", "app")
    }

    #[test]
    fn options_split_and_escape_round_trip() {
        let c = cfg();
        let got = parse_options(
            r"-c search_path=a\ b -capplication_name=x --statement-timeout=5s",
            &c,
        )
        .unwrap();
        assert_eq!(
            got,
            [
                ("search_path".to_owned(), "a b".to_owned()),
                ("application_name".to_owned(), "x".to_owned()),
                ("statement_timeout".to_owned(), "5s".to_owned()),
            ]
        );
        let mut s = String::new();
        push_switch(&mut s, "gatekit.user", "a b\\c");
        assert_eq!(s, r"-c gatekit.user=a\ b\\c");
        assert_eq!(split_options(&s), ["-c", r"gatekit.user=a b\c"]);
    }

    #[test]
    fn dangerous_options_are_refused() {
        let c = cfg();
        for bad in [
            "-c role=admin",
            "--role=admin",
            "-c gatekit.user=eve",
            "-c SESSION_AUTHORIZATION=x",
            "-c work_mem=1GB",
            "-d 5",
            "-c",
            "-c search_path",
        ] {
            assert!(parse_options(bad, &c).is_err(), "{bad} passed");
        }
    }

    #[test]
    fn params_filtered() {
        let c = cfg();
        let p = |pairs: &[(&str, &str)]| {
            StartupParams::new(
                pairs
                    .iter()
                    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                    .collect(),
            )
        };
        let ok = filter(
            ProtocolVersion::V3_0,
            &p(&[
                ("user", "alice"),
                ("DateStyle", "ISO"),
                ("replication", "false"),
            ]),
            &c,
        )
        .unwrap();
        assert_eq!(ok.settings, [("DateStyle".to_owned(), "ISO".to_owned())]);
        assert_eq!(
            filter(
                ProtocolVersion::V3_0,
                &p(&[("user", "a"), ("replication", "database")]),
                &c
            ),
            Err(PgError::ReplicationRefused)
        );
        assert_eq!(
            filter(
                ProtocolVersion::V3_0,
                &p(&[("user", "a"), ("gatekit.user", "x")]),
                &c
            ),
            Err(PgError::ParameterRefused {
                name: "gatekit.user".into()
            })
        );
        assert_eq!(
            filter(ProtocolVersion::V3_0, &p(&[("database", "a")]), &c),
            Err(PgError::MissingUser)
        );
        let neg = filter(
            ProtocolVersion { major: 3, minor: 7 },
            &p(&[("user", "a"), ("_pq_.x", "1")]),
            &c,
        )
        .unwrap();
        assert!(neg.negotiate);
        assert_eq!(neg.version, ProtocolVersion::V3_2);
        assert_eq!(neg.unsupported, ["_pq_.x"]);
    }

    #[test]
    fn upstream_params_carry_identity_and_role() {
        let mut c = cfg();
        c.upstream_database = Some("shop".into());
        c.roles = vec![("dev".into(), "ro".into()), ("dba".into(), "rw".into())];
        let id = Identity::new("alice smith", ["dba", "dev"]);
        let client = filter(
            ProtocolVersion::V3_0,
            &StartupParams::new(vec![
                ("user".into(), "alice smith".into()),
                ("database".into(), "other".into()),
                ("options".into(), "-c search_path=s".into()),
            ]),
            &c,
        )
        .unwrap();
        let role = pick_role(&id, &c).unwrap();
        assert_eq!(role, Some("ro"));
        let params = upstream_params(&client, &c, &id, role).unwrap();
        assert_eq!(params[0], ("user".into(), "app".into()));
        assert_eq!(params[1], ("database".into(), "shop".into()));
        let options = &params.last().unwrap().1;
        assert_eq!(
            options,
            r"-c search_path=s -c role=ro -c gatekit.user=alice\ smith -c gatekit.groups=dba,dev"
        );
        assert_eq!(
            pick_role(&Identity::new("bob", ["ops"]), &c),
            Err(PgError::NoRole)
        );
    }

    #[test]
    fn user_match_by_subject_or_email() {
        let mut id = Identity::new("u-123", ["dev"]);
        id.email = Some("Alice@Example.com".into());
        assert!(user_matches("u-123", &id));
        assert!(user_matches("alice@example.com", &id));
        assert!(!user_matches("alice", &id));
    }
}
