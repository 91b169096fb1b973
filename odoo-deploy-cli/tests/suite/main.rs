//! End-to-end tests of the `odd` binary (one test binary).
#![allow(clippy::disallowed_methods)]

mod support;

mod check;
mod ci;

mod compose;
mod deploy;
mod docs;
mod doctor;
mod exit_codes;
mod fleet_databases;
mod fleet_hosts;
mod from_host;
mod graph;
mod hooks;

mod image;
mod init;
mod installation;
mod lint;
mod manifest;
mod matrix;
mod odoo_tests;
mod recovery;
mod refresh;
mod rollback;
mod security;
mod soak;
mod startup_log;
mod submodule;
