//! Fault injection (placeholder until the fault-point module lands).

use crate::Config;

/// Does nothing yet.
pub fn point(_config: &Config, _name: &str) {}
