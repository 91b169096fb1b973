//! The integration tests of odoo-deploy-core, one binary.

mod backup;
mod config;
