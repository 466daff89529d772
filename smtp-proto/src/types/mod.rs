//! Validated values: anything that reaches a command line passes through one of these types
//! (DESIGN.md §4.10, SECURITY.md I4).

pub(crate) mod domain;
pub(crate) mod mailbox;
pub(crate) mod mechanism;
pub(crate) mod params;
pub(crate) mod secret;
