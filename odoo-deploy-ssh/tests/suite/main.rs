//! Integration tests of the transports against a real sshd on loopback.
#![allow(clippy::disallowed_methods)] // tests spawn `sh`, `pgrep` and `ssh-keygen` directly

mod conformance;
mod failures;
mod quoting;
mod support;
