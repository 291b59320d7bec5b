//! The library behind the `gatekit` binary: configuration, subcommands, the audit writer,
//! identity sources and listener wiring. `main.rs` only parses arguments and dispatches here.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod api;
pub mod audit_log;
pub mod cmd;
pub mod config;
pub mod demo;
pub mod engine;
pub mod gate;
pub mod identity;
pub mod jwks;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod recordings;
pub mod reload;
pub mod reviews;
pub mod state;
pub mod swap;
