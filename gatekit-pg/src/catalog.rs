//! Column lineage lookups: one catalog connection per upstream database, opened lazily
//! with the held credential, and a [`ColumnCache`] in front of it.
//!
//! Sessions read the cache themselves (a result whose columns are all cached costs no
//! event and no round trip); only misses reach [`Catalog::lookup`]. Lookups for one
//! database share its connection one at a time; a broken connection is dropped and opened
//! again by the next lookup.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gatekit_core::pg::{
    ColumnCache, ColumnKey, CopyField, CopyRequest, CopySource, QualifiedColumn, SessionConfig,
    UpstreamTls,
};
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, NoTls};

use crate::tls::PostgresTls;

/// The names behind (table OID, attribute number) pairs.
const LOOKUP: &str = "SELECT k.oid, k.attnum, n.nspname::text, c.relname::text, a.attname::text \
     FROM unnest($1::oid[], $2::int2[]) AS k(oid, attnum) \
     JOIN pg_catalog.pg_attribute a ON a.attrelid = k.oid AND a.attnum = k.attnum \
     JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace";

/// The columns a `COPY table TO` writes: non-dropped, non-generated, in order.
const TABLE_COLUMNS: &str = "SELECT n.nspname::text, c.relname::text, a.attname::text, a.atttypid \
     FROM pg_catalog.pg_attribute a \
     JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
     AND a.attgenerated = '' ORDER BY a.attnum";

/// Distinct databases a target's catalog keeps caches and connections for, at most.
const MAX_DATABASES: usize = 64;

type Conn = Arc<tokio::sync::Mutex<Option<Client>>>;

/// The catalog side of one target.
pub(crate) struct Catalog {
    upstream: String,
    tls: Option<PostgresTls>,
    timeout: Duration,
    databases: Mutex<HashMap<String, (Arc<ColumnCache>, Conn)>>,
}

impl Catalog {
    pub(crate) fn new(upstream: String, tls: Option<PostgresTls>, timeout: Duration) -> Self {
        Catalog {
            upstream,
            tls,
            timeout,
            databases: Mutex::new(HashMap::new()),
        }
    }

    fn entry(&self, database: &str) -> (Arc<ColumnCache>, Conn) {
        let mut map = self
            .databases
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((cache, conn)) = map.get(database) {
            return (Arc::clone(cache), Arc::clone(conn));
        }
        if map.len() >= MAX_DATABASES {
            map.clear();
        }
        let made = (Arc::new(ColumnCache::default()), Conn::default());
        map.insert(
            database.to_owned(),
            (Arc::clone(&made.0), Arc::clone(&made.1)),
        );
        made
    }

    /// The cache of `database`'s column names.
    pub(crate) fn cache(&self, database: &str) -> Arc<ColumnCache> {
        self.entry(database).0
    }

    /// Looks `keys` up in `database`'s catalog.
    pub(crate) async fn lookup(
        &self,
        session: &SessionConfig,
        database: &str,
        keys: &[ColumnKey],
    ) -> Result<Vec<(ColumnKey, QualifiedColumn)>, String> {
        let (_, conn) = self.entry(database);
        let mut guard = conn.lock().await;
        let work = async {
            if guard.as_ref().is_none_or(Client::is_closed) {
                *guard = Some(self.connect(session, database).await?);
            }
            let Some(client) = guard.as_ref() else {
                return Err("no catalog connection".to_owned());
            };
            let oids: Vec<u32> = keys.iter().map(|k| k.table_oid).collect();
            let attnums: Vec<i16> = keys.iter().map(|k| k.column).collect();
            let rows = client
                .query(LOOKUP, &[&oids, &attnums])
                .await
                .map_err(|e| e.to_string())?;
            rows.iter()
                .map(|r| {
                    let key = ColumnKey {
                        table_oid: r.try_get(0).map_err(|e| e.to_string())?,
                        column: r.try_get(1).map_err(|e| e.to_string())?,
                    };
                    let get = |i| r.try_get::<_, String>(i).map_err(|e| e.to_string());
                    Ok((key, QualifiedColumn::new(&get(2)?, &get(3)?, &get(4)?)))
                })
                .collect()
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(e)) => {
                *guard = None;
                Err(e)
            }
            Err(_) => {
                *guard = None;
                Err("catalog lookup timed out".to_owned())
            }
        }
    }

    /// Names the fields of a COPY OUT in `database`: inside a read-only transaction under
    /// the session's `search_path`, a table's columns from `pg_attribute`, a query's by
    /// preparing it (never executing it).
    pub(crate) async fn copy_columns(
        &self,
        session: &SessionConfig,
        database: &str,
        req: &CopyRequest,
    ) -> Result<Vec<CopyField>, String> {
        let (_, conn) = self.entry(database);
        let mut guard = conn.lock().await;
        let work = async {
            if guard.as_ref().is_none_or(Client::is_closed) {
                *guard = Some(self.connect(session, database).await?);
            }
            let Some(client) = guard.as_ref() else {
                return Err("no catalog connection".to_owned());
            };
            let e = |e: tokio_postgres::Error| e.to_string();
            client.batch_execute("BEGIN READ ONLY").await.map_err(e)?;
            if let Some(role) = &req.role {
                client
                    .query("SELECT pg_catalog.set_config('role', $1, true)", &[role])
                    .await
                    .map_err(e)?;
            }
            if let Some(path) = &req.search_path {
                client
                    .query(
                        "SELECT pg_catalog.set_config('search_path', $1, true)",
                        &[path],
                    )
                    .await
                    .map_err(e)?;
            }
            let fields = match &req.source {
                CopySource::Table(table) => {
                    let rows = client.query(TABLE_COLUMNS, &[table]).await.map_err(e)?;
                    if rows.is_empty() {
                        return Err(format!("table {table} not found"));
                    }
                    rows.iter()
                        .map(|r| {
                            let get = |i| r.try_get::<_, String>(i).map_err(e);
                            Ok(CopyField {
                                column: Some(QualifiedColumn::new(&get(0)?, &get(1)?, &get(2)?)),
                                type_oid: r.try_get(3).map_err(e)?,
                            })
                        })
                        .collect::<Result<Vec<_>, String>>()?
                }
                CopySource::Query(sql) => {
                    let statement = client.prepare(sql).await.map_err(e)?;
                    let columns = statement.columns();
                    let keys: Vec<Option<ColumnKey>> = columns
                        .iter()
                        .map(|c| match (c.table_oid(), c.column_id()) {
                            (Some(t), Some(a)) if t != 0 && a > 0 => Some(ColumnKey {
                                table_oid: t,
                                column: a,
                            }),
                            _ => None,
                        })
                        .collect();
                    let asked: Vec<ColumnKey> = keys.iter().flatten().copied().collect();
                    let oids: Vec<u32> = asked.iter().map(|k| k.table_oid).collect();
                    let attnums: Vec<i16> = asked.iter().map(|k| k.column).collect();
                    let rows = client.query(LOOKUP, &[&oids, &attnums]).await.map_err(e)?;
                    let mut names = HashMap::new();
                    for r in &rows {
                        let key = ColumnKey {
                            table_oid: r.try_get(0).map_err(e)?,
                            column: r.try_get(1).map_err(e)?,
                        };
                        let get = |i| r.try_get::<_, String>(i).map_err(e);
                        names.insert(key, QualifiedColumn::new(&get(2)?, &get(3)?, &get(4)?));
                    }
                    let mut fields = Vec::with_capacity(columns.len());
                    for (c, key) in columns.iter().zip(keys) {
                        let column = match key {
                            None => None,
                            Some(k) => Some(
                                names
                                    .get(&k)
                                    .cloned()
                                    .ok_or_else(|| format!("column {k:?} not in the catalog"))?,
                            ),
                        };
                        fields.push(CopyField {
                            column,
                            type_oid: c.type_().oid(),
                        });
                    }
                    fields
                }
            };
            client.batch_execute("ROLLBACK").await.map_err(e)?;
            Ok(fields)
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(e)) => {
                *guard = None;
                Err(e)
            }
            Err(_) => {
                *guard = None;
                Err("COPY column lookup timed out".to_owned())
            }
        }
    }

    async fn connect(&self, session: &SessionConfig, database: &str) -> Result<Client, String> {
        let (host, port) = self
            .upstream
            .rsplit_once(':')
            .ok_or_else(|| format!("upstream `{}` is not HOST:PORT", self.upstream))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("upstream `{}` has a bad port", self.upstream))?;
        let mut config = tokio_postgres::Config::new();
        config
            .host(host.trim_start_matches('[').trim_end_matches(']'))
            .port(port)
            .user(&session.upstream_user)
            .dbname(database)
            .application_name("gatekit catalog")
            .connect_timeout(self.timeout);
        if let Some(pw) = &session.upstream_password {
            config.password(pw.reveal());
        }
        let target = session.target.clone();
        let on_end = move |r: Result<(), tokio_postgres::Error>| {
            if let Err(e) = r {
                tracing::warn!(target = %target, error = %e, "catalog connection ended");
            }
        };
        match (&self.tls, session.upstream_tls) {
            (Some(tls), mode) if mode != UpstreamTls::Disable => {
                config.ssl_mode(if mode == UpstreamTls::Prefer {
                    SslMode::Prefer
                } else {
                    SslMode::Require
                });
                let (client, connection) = config
                    .connect(tls.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(async move { on_end(connection.await) });
                Ok(client)
            }
            _ => {
                config.ssl_mode(SslMode::Disable);
                let (client, connection) =
                    config.connect(NoTls).await.map_err(|e| e.to_string())?;
                tokio::spawn(async move { on_end(connection.await) });
                Ok(client)
            }
        }
    }
}
