//! `gatekit`: the reference binary.

fn main() {}
