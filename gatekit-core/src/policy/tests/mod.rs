//! Tests of the policy engine, driven by the case files under `tests/data/policy/`.

mod cases;
mod errors;
mod props;
mod windows;
