//! Drives the `smtp-proto` core over tokio and rustls. The adapter is not written yet; this
//! crate reserves its place in the workspace.
