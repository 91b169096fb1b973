//! The integration tests of odoo-deploy-core, one binary.

mod backup;
mod check;
mod config;
mod graph;
mod lock;
mod manifest;
mod plan;
