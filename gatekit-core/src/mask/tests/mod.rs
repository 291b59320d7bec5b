//! Tests across the masking modules.
