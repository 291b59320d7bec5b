//! Calls the class of a statement alone does not show: server-side file access, killing
//! backends, replication and configuration functions (`admin`), functions that run SQL given
//! as text (`procedural`), and `set_config` of protected settings. Found on the token stream,
//! so they count wherever they appear: in a parsed statement, one the parser refused, a
//! view's definition or a `PREPARE`.

use std::collections::HashSet;

use super::lexer::{Kind, Tok, ident_value, str_value};
use super::settings::{SearchPathChange, parse_search_path, setting_class};
use crate::class::{Class, ClassSet};

/// Functions whose call is `admin`.
pub const ADMIN_FUNCTIONS: &[&str] = &[
    "pg_read_file",
    "pg_read_binary_file",
    "pg_stat_file",
    "pg_ls_dir",
    "pg_ls_logdir",
    "pg_ls_waldir",
    "pg_ls_tmpdir",
    "pg_ls_archive_statusdir",
    "pg_ls_logicalsnapdir",
    "pg_ls_logicalmapdir",
    "pg_ls_replslotdir",
    "pg_logdir_ls",
    "pg_file_write",
    "pg_file_rename",
    "pg_file_unlink",
    "pg_file_sync",
    "lo_import",
    "lo_export",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_promote",
    "pg_switch_wal",
    "pg_create_restore_point",
    "pg_backup_start",
    "pg_backup_stop",
    "pg_start_backup",
    "pg_stop_backup",
    "pg_wal_replay_pause",
    "pg_wal_replay_resume",
    "pg_create_physical_replication_slot",
    "pg_create_logical_replication_slot",
    "pg_drop_replication_slot",
    "pg_copy_physical_replication_slot",
    "pg_copy_logical_replication_slot",
    "pg_replication_slot_advance",
    "pg_logical_slot_get_changes",
    "pg_logical_slot_peek_changes",
    "pg_logical_slot_get_binary_changes",
    "pg_logical_emit_message",
    "pg_replication_origin_create",
    "pg_replication_origin_drop",
    "pg_replication_origin_session_setup",
    "pg_log_backend_memory_contexts",
    "pg_stat_reset",
    "pg_stat_reset_shared",
    "pg_stat_reset_single_table_counters",
    "pg_stat_reset_single_function_counters",
    "pg_stat_reset_slru",
    "pg_stat_reset_replication_slot",
    "pg_stat_statements_reset",
    "pg_import_system_collations",
    "dblink",
    "dblink_exec",
    "dblink_connect",
    "dblink_connect_u",
    "dblink_send_query",
    "dblink_open",
];

/// Functions that run SQL handed to them as text (`procedural`); string literals among
/// their arguments are classified too.
pub const DYNAMIC_SQL_FUNCTIONS: &[&str] = &[
    "query_to_xml",
    "query_to_xmlschema",
    "schema_to_xml",
    "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema",
    "database_to_xml",
    "database_to_xmlschema",
    "database_to_xml_and_xmlschema",
    "query_to_xml_and_xmlschema",
    "cursor_to_xml",
    "ts_stat",
    "ts_rewrite",
    "dblink",
    "dblink_exec",
    "dblink_send_query",
    "dblink_open",
];

/// File-access functions whose absolute-path arguments are reported as objects.
const FILE_FUNCTIONS: &[&str] = &[
    "pg_read_file",
    "pg_read_binary_file",
    "pg_stat_file",
    "pg_ls_dir",
    "lo_import",
    "lo_export",
    "pg_file_write",
    "pg_file_rename",
    "pg_file_unlink",
];

/// Functions that read the table named by their first argument.
const TABLE_FUNCTIONS: &[&str] = &[
    "table_to_xml",
    "table_to_xmlschema",
    "table_to_xml_and_xmlschema",
];

/// Argument lists examined per statement (each is a linear walk; the cap keeps a statement
/// of nested calls linear too).
const MAX_ARG_SCANS: usize = 16;

/// The compiled function lists.
#[derive(Debug, Clone)]
pub(crate) struct Functions {
    admin: HashSet<Box<str>>,
    max_len: usize,
}

/// What the calls in one statement add.
#[derive(Debug, Default)]
pub(crate) struct CallScan {
    pub classes: ClassSet,
    /// Absolute paths given to file-access functions.
    pub paths: Vec<String>,
    /// Token indices of string literals holding SQL that a dynamic-SQL function runs.
    pub nested_sql: Vec<usize>,
    /// Tables named by literal arguments (`table_to_xml('secrets', …)`), unqualified as given.
    pub table_args: Vec<Vec<String>>,
    /// A `set_config('search_path', …)` seen.
    pub search_path: Option<SearchPathChange>,
}

impl Functions {
    /// Builds the lists: the built-in ones plus `extra` (names matched without schema, case
    /// folded).
    pub fn new(extra: &[String]) -> Self {
        let mut admin: HashSet<Box<str>> = ADMIN_FUNCTIONS.iter().map(|s| Box::from(*s)).collect();
        for e in extra {
            let name = e
                .rsplit('.')
                .next()
                .unwrap_or(e)
                .trim()
                .to_ascii_lowercase();
            if !name.is_empty() {
                admin.insert(name.into_boxed_str());
            }
        }
        let max_len = admin
            .iter()
            .map(|s| s.len())
            .chain(DYNAMIC_SQL_FUNCTIONS.iter().map(|s| s.len()))
            .chain(["set_config".len()])
            .max()
            .unwrap_or(0);
        Functions { admin, max_len }
    }

    /// Scans a statement's tokens for calls of listed functions.
    pub fn scan(&self, src: &str, toks: &[Tok], extra_settings: &[String]) -> CallScan {
        let mut out = CallScan::default();
        let mut scans = 0usize;
        for i in 0..toks.len() {
            let t = toks[i];
            if !t.is_name() || (t.kind == Kind::Ident && t.end - t.start > self.max_len as u32) {
                continue;
            }
            let Some(name) = ident_value(src, toks, i) else {
                // A malformed U&"…" name: the server rejects it, nothing runs.
                continue;
            };
            if name.len() > self.max_len {
                continue;
            }
            let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
                std::borrow::Cow::Owned(name.to_ascii_lowercase())
            } else {
                name
            };
            let is_call = toks.get(i + 1).is_some_and(|n| n.kind == Kind::LParen);
            if self.admin.contains(name.as_ref()) {
                out.classes.insert(Class::Admin);
            }
            let dynamic = is_call && DYNAMIC_SQL_FUNCTIONS.contains(&name.as_ref());
            if dynamic {
                out.classes.insert(Class::Procedural);
            }
            if name == "set_config" {
                if is_call {
                    self.set_config(src, toks, i + 2, extra_settings, &mut out);
                } else {
                    out.classes.insert(Class::Admin);
                }
            }
            let file = FILE_FUNCTIONS.contains(&name.as_ref());
            let table = is_call && TABLE_FUNCTIONS.contains(&name.as_ref());
            if table {
                match toks
                    .get(i + 2)
                    .filter(|t| t.is_str())
                    .and_then(|_| str_value(src, toks, i + 2))
                {
                    Some(v) => out
                        .table_args
                        .push(super::settings::parse_search_path(&v.replace('.', ","))),
                    // A table named by an expression: the gateway cannot tell which.
                    None => out.classes.insert(Class::Procedural),
                }
            }
            if (dynamic || file) && is_call && scans < MAX_ARG_SCANS {
                scans += 1;
                for j in literal_args(toks, i + 1) {
                    if dynamic {
                        out.nested_sql.push(j);
                    }
                    if file
                        && let Some(v) = str_value(src, toks, j)
                        && v.starts_with('/')
                        && !out.paths.iter().any(|p| p == v.as_ref())
                    {
                        out.paths.push(v.into_owned());
                    }
                }
            }
        }
        out
    }

    /// `set_config(name, value, is_local)` with the first argument at `a`.
    fn set_config(&self, src: &str, toks: &[Tok], a: usize, extra: &[String], out: &mut CallScan) {
        let literal_at = |k: usize| {
            toks.get(k).is_some_and(|t| t.is_str())
                && toks
                    .get(k + 1)
                    .is_some_and(|t| matches!(t.kind, Kind::Comma | Kind::RParen))
        };
        if !literal_at(a) {
            out.classes.insert(Class::Admin);
            return;
        }
        let Some(name) = str_value(src, toks, a) else {
            out.classes.insert(Class::Admin);
            return;
        };
        let name = name.trim().to_ascii_lowercase();
        let value = if literal_at(a + 2) {
            str_value(src, toks, a + 2)
        } else {
            None
        };
        if name == "search_path" {
            match &value {
                Some(v) => {
                    let local = toks.get(a + 4).is_some_and(|t| t.is_kw(src, "true"));
                    out.search_path = Some(SearchPathChange {
                        schemas: parse_search_path(v),
                        local,
                    });
                }
                None => out.classes.insert(Class::Admin),
            }
            return;
        }
        match setting_class(&name, value.as_deref(), extra) {
            Class::Session => {}
            Class::Dcl => {
                out.classes.insert(Class::Dcl);
                out.classes.insert(Class::Admin);
            }
            c => out.classes.insert(c),
        }
    }
}

/// Token indices of the string literals that are whole arguments of the call whose `(` is at
/// `open`.
fn literal_args(toks: &[Tok], open: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut j = open;
    while j < toks.len() {
        match toks[j].kind {
            Kind::LParen | Kind::LBracket => depth += 1,
            Kind::RParen | Kind::RBracket => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            Kind::Str(_) if depth == 1 => {
                let before = toks[j - 1].kind;
                let after = toks.get(j + 1).map(|t| t.kind);
                if matches!(before, Kind::LParen | Kind::Comma)
                    && matches!(after, Some(Kind::Comma | Kind::RParen))
                {
                    out.push(j);
                }
            }
            _ => {}
        }
        j += 1;
    }
    out
}
