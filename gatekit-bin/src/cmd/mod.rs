//! One module per subcommand; each exposes its clap arguments and a `run` function.

pub mod approvals;
pub mod audit;
pub mod check;
pub mod demo;
pub mod mask;
pub mod policy_test;
pub mod replay;
pub mod serve;
pub mod sessions;
pub mod token;
