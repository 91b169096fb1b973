//! End-to-end tests of the `odd` binary (one test binary).
#![allow(clippy::disallowed_methods)]

mod support;

mod check;
mod compose;
mod deploy;
mod docs;
mod doctor;
mod exit_codes;
mod graph;
mod image;
mod init;
mod installation;
mod manifest;
mod matrix;
mod recovery;
mod rollback;
mod security;
mod soak;
mod startup_log;
mod submodule;
