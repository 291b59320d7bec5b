//! Tests across the masking modules.
mod corpus;
mod props;
