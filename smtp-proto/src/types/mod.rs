//! Validated values: anything that reaches a command line passes through one of these types
//! (DESIGN.md §4.10, SECURITY.md I4).

pub mod domain;
pub mod mailbox;
pub mod mechanism;
pub mod params;
pub mod secret;
