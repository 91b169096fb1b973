//! Integration tests of the transports against a real sshd on loopback.
#![allow(clippy::disallowed_methods)] // tests spawn `sh`, `pgrep` and `ssh-keygen` directly
#![allow(clippy::unwrap_used)] // helpers shared by tests are not `#[test]` fns, but panicking is their job

mod backup;
mod conformance;
mod failures;
mod harness;
mod jump;
mod quoting;
mod support;
