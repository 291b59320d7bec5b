//! Object names as rules see them: `schema.table`, qualified through the search path.

/// The schema unqualified names resolve to: the first entry of the search path that names a
/// schema (`$user` is skipped: the gateway does not know which user the server resolves it
/// to), `public` when there is none.
pub(crate) fn default_schema(search_path: &[String]) -> &str {
    search_path
        .iter()
        .map(String::as_str)
        .find(|s| !s.is_empty() && *s != "$user")
        .unwrap_or("public")
}

/// `schema.table` for a name of one to three parts (`db.schema.table` drops the database:
/// the server only accepts the current one). Unqualified names starting with `pg_` are
/// written as `pg_catalog.…` (the server searches `pg_catalog` first); temporary tables
/// as `pg_temp.…`.
pub(crate) fn qualify<S: AsRef<str>>(
    parts: &[S],
    search_path: &[String],
    temporary: bool,
) -> String {
    match parts {
        [] => String::new(),
        [name] => {
            let name = name.as_ref();
            let schema = if temporary {
                "pg_temp"
            } else if name.starts_with("pg_") {
                "pg_catalog"
            } else {
                default_schema(search_path)
            };
            format!("{schema}.{name}")
        }
        [.., schema, name] => format!("{}.{}", schema.as_ref(), name.as_ref()),
    }
}
