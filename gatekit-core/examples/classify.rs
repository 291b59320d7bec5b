//! Classifies SQL read from standard input and prints, per statement, its classes, tables,
//! functions and paths, then the classification a policy would see.
//!
//! ```text
//! echo "DELETE FROM orders; SELECT pg_read_file('/etc/passwd')" | cargo run -p gatekit-core --example classify
//! ```
//!
//! `--search-path a,b` sets the session's search path.

use std::io::Read;

use gatekit_core::sql::{SqlClassifier, SqlContext, SqlOptions, redact_secrets};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let search_path: Vec<String> = match args.iter().position(|a| a == "--search-path") {
        Some(i) => args
            .get(i + 1)
            .map(|v| v.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let mut sql = Vec::new();
    std::io::stdin().read_to_end(&mut sql)?;

    let classifier = SqlClassifier::new(SqlOptions::default());
    let analysis = classifier.classify(
        &sql,
        &SqlContext {
            search_path: &search_path,
        },
    );
    for (n, s) in analysis.statements.iter().enumerate() {
        println!(
            "{n}: {} [{}] tables={:?} functions={:?} paths={:?} where={} parsed={}",
            s.tag,
            s.classes.names().join(", "),
            s.tables,
            s.functions,
            s.paths,
            s.has_where,
            s.parsed
        );
    }
    let c = analysis.classification();
    println!("classes: {}", c.classes.names().join(", "));
    println!("objects: {}", c.objects.join(", "));
    if let Some(sp) = &analysis.search_path {
        println!("search_path -> {:?} (local: {})", sp.schemas, sp.local);
    }
    println!(
        "audit text: {}",
        redact_secrets(&String::from_utf8_lossy(&sql))
    );
    Ok(())
}
