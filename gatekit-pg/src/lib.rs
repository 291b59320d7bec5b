//! The tokio adapter of gatekit for the PostgreSQL: it turns traffic into `gatekit-core`
//! requests and carries out the core's decisions. It holds no protocol or policy logic of its own.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
