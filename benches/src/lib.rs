//! Shared fixtures for gatekit's benchmarks; the benchmarks live under `benches/`.
