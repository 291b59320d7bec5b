//! Masking through the gateway against the real server: psql, tokio-postgres in binary
//! format, COPY, errors, and an exempt session.

use std::sync::Arc;

use gatekit_core::mask::{MaskSpec, Masker};

use crate::support::cluster::Cluster;
use crate::support::{ALICE_TOKEN, CAROL_TOKEN, GwOptions, gateway, psql};

fn pii() -> Arc<Masker> {
    let mut spec = MaskSpec::new("pii", ["credit_card", "email", "us_ssn"]);
    spec.columns = vec!["ssn".into(), "*card*".into(), "internal_code".into()];
    Arc::new(Masker::compile(&spec, &[]).unwrap())
}

async fn one(port: u16, token: &str, user: &str, sql: &str) -> (String, String) {
    let (ok, out, err) = psql(port, "require", token, user, &["-c", sql]).await;
    assert!(ok, "{sql}: {err}");
    (out.trim().to_owned(), err)
}

pub async fn masking_end_to_end(cluster: &Cluster) {
    let gw = gateway(
        &cluster.addr(),
        GwOptions {
            mask: Some(pii()),
            ..GwOptions::default()
        },
    )
    .await;
    let port = gw.port;
    let q = |sql: &'static str| one(port, ALICE_TOKEN, "alice", sql);

    let (out, _) = q("SELECT * FROM customers WHERE id <= 2 ORDER BY id").await;
    assert_eq!(
        out,
        "1|[REDACTED:email]|[REDACTED:column]||[REDACTED:column]\n\
         2|[REDACTED:email]|[REDACTED:column]||[REDACTED:column]"
    );
    // Aliases, subqueries and views keep the real column's rule.
    let (out, _) = q("SELECT ssn AS x FROM customers WHERE id = 1").await;
    assert_eq!(out, "[REDACTED:column]");
    let (out, _) = q("SELECT * FROM (SELECT ssn FROM customers) s LIMIT 1").await;
    assert_eq!(out, "[REDACTED:column]");
    let (out, _) = q("SELECT ssn FROM customer_contacts WHERE id = 1").await;
    assert_eq!(out, "[REDACTED:column]");
    // An expression is caught by the detectors.
    let (out, _) = q("SELECT ssn || '' FROM customers WHERE id = 1").await;
    assert_eq!(out, "[REDACTED:us_ssn]");
    // An integer column cannot hold the mask: NULL, and one notice for the statement.
    let (out, err) = q("SELECT card_no FROM customers WHERE id <= 3").await;
    assert_eq!(out, "", "NULLs");
    assert_eq!(err.matches("NOTICE").count(), 1, "{err}");
    assert!(err.contains("public.customers.card_no"), "{err}");

    // COPY out.
    let (out, _) = q("\\copy customers TO STDOUT").await;
    assert_eq!(out.lines().count(), 1000);
    assert!(
        !out.contains("@example.com") && !out.contains("234-56-"),
        "{out:.300}"
    );
    assert!(!out.contains("4111"), "{out:.300}");
    // Column rules name COPY's fields: the column mask, not the detector's.
    let (out, _) =
        q("COPY (SELECT ssn FROM customers WHERE id <= 2 ORDER BY id) TO STDOUT (FORMAT csv)")
            .await;
    assert_eq!(out, "\"[REDACTED:column]\"\n\"[REDACTED:column]\"");
    let (out, _) = q("COPY (SELECT ssn AS x FROM customers WHERE id = 1) TO STDOUT").await;
    assert_eq!(out, "[REDACTED:column]");
    let (out, _) = q("COPY customers (id, ssn) TO STDOUT (FORMAT csv, HEADER)").await;
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("id,ssn"));
    assert_eq!(lines.next(), Some("1,\"[REDACTED:column]\""));
    let (out, _) = q("\\copy customers TO STDOUT").await;
    let first = out.lines().next().unwrap_or_default();
    assert!(first.contains("[REDACTED:column]"), "{first}");
    // A COPY whose data the gateway cannot read is refused.
    let (ok, _, err) = psql(
        port,
        "require",
        ALICE_TOKEN,
        "alice",
        &["-c", "COPY customers TO STDOUT (ENCODING 'LATIN1')"],
    )
    .await;
    assert!(!ok && err.contains("ENCODING"), "{err}");
    // A unique violation echoes the value; the detail is masked.
    let (ok, _, err) = psql(
        port,
        "require",
        ALICE_TOKEN,
        "alice",
        &["-c", "INSERT INTO contacts VALUES ('jane@example.com')"],
    )
    .await;
    assert!(!ok);
    assert!(
        err.contains("Key (email)=([REDACTED:email]) already exists."),
        "{err}"
    );
    assert!(!err.contains("jane@example.com"), "{err}");

    // tokio-postgres asks for binary results of a prepared statement; the gateway takes
    // its token in plaintext on loopback where allowed.
    let plain = gateway(
        &cluster.addr(),
        GwOptions {
            mask: Some(pii()),
            client_tls: false,
            plaintext: true,
            ..GwOptions::default()
        },
    )
    .await;
    let (client, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=alice password={ALICE_TOKEN} dbname=shop sslmode=disable",
            plain.port
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT email, ssn, id, card_no FROM customers WHERE id = $1",
            &[&7i32],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "[REDACTED:email]");
    assert_eq!(row.get::<_, String>(1), "[REDACTED:column]");
    assert_eq!(row.get::<_, i32>(2), 7);
    assert_eq!(row.get::<_, Option<i64>>(3), None);

    // COPY in binary through tokio-postgres (extended protocol): the column rule masks a
    // value no detector would catch.
    cluster.psql_admin(
        "shop",
        "CREATE TABLE parts (id int, internal_code text);
         INSERT INTO parts VALUES (1, 'PX-0001'), (2, 'PX-0002');
         GRANT SELECT ON parts TO shop_readonly;",
    );
    let data = copy_out(
        &client,
        "COPY (SELECT id, internal_code AS c FROM parts ORDER BY id) TO STDOUT (FORMAT binary)",
    )
    .await;
    assert!(!contains(&data, b"PX-000"), "{data:?}");
    assert_eq!(
        data.windows(17)
            .filter(|w| w == b"[REDACTED:column]")
            .count(),
        2
    );
    let data = copy_out(&client, "COPY parts TO STDOUT").await;
    assert_eq!(data, b"1\t[REDACTED:column]\n2\t[REDACTED:column]\n");

    // An exempt session sees the raw values.
    let (out, _) = one(
        port,
        CAROL_TOKEN,
        "carol",
        "SELECT email, ssn, card_no FROM customers WHERE id = 1",
    )
    .await;
    assert_eq!(out, "user1@example.com|234-56-0001|4111111111111111");
}

/// Every byte of a COPY OUT run through tokio-postgres.
async fn copy_out(client: &tokio_postgres::Client, sql: &str) -> Vec<u8> {
    let stream = client.copy_out(sql).await.unwrap();
    let mut stream = std::pin::pin!(stream);
    let mut out = Vec::new();
    while let Some(chunk) =
        std::future::poll_fn(|cx| futures_core::Stream::poll_next(stream.as_mut(), cx)).await
    {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
