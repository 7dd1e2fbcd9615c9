//! The case state machine.
