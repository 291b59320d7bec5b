//! The sans-IO core of gatekit, an access gateway for PostgreSQL, SSH and Kubernetes.
//!
//! Nothing here touches a socket, a file or the clock: callers pass bytes and `now` in and
//! take decisions, bytes and records out. Protocol adapters (`gatekit-pg`, `gatekit-ssh`,
//! `gatekit-k8s`) drive it; other Rust tools embed the parts they need.
//!
//! ```
//! use gatekit_core::{Class, ClassSet, Classification};
//!
//! let mut c = Classification::of([Class::Write]);
//! c.add_object("public.customers");
//! assert!(c.classes.intersects(ClassSet::of(Class::Write)));
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod approval;
pub mod audit;
pub mod class;
pub mod identity;
mod json;
mod last_text;
pub mod mask;
pub mod pg;
pub mod policy;
pub mod record;
pub mod sql;

pub use class::{Class, ClassSet, Classification, Protocol};
pub use identity::Identity;
