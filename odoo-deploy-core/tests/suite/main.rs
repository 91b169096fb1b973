//! The integration tests of odoo-deploy-core, one binary.
#![allow(clippy::disallowed_methods)] // tests run peers (python3, click-odoo-contrib) directly

mod advisory;
mod backup;
mod changes;
mod check;
mod config;
mod graph;
mod installation;
mod lock;
mod manifest;
mod plan;
