//! Drives the `smtp-proto` core over `std::net` and native-tls. The adapter is not written yet;
//! this crate reserves its place in the workspace.
