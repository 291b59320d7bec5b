//! The pieces of `gatekit demo`: a throwaway PostgreSQL cluster, the seeded `shop` database
//! and the demo's config.

pub mod cluster;
pub mod config;
pub mod seed;
