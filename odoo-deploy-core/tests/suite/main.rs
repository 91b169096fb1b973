//! The integration tests of odoo-deploy-core, one binary.

mod config;
mod lock;
mod manifest;
mod plan;
