//! End-to-end tests of the `odd` binary (one test binary).
#![allow(clippy::disallowed_methods)]

mod support;

mod check;
mod deploy;
mod graph;
mod installation;
mod manifest;
mod matrix;
mod rollback;
