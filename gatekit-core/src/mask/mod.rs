//! Masking of sensitive values in flight.
