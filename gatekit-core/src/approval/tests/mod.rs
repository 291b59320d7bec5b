//! Tests of the approval state machine.
