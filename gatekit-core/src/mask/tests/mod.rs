//! Tests across the masking modules.
mod corpus;
mod masker;
mod props;
mod stream;
