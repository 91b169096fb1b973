//! The integration tests of odoo-deploy-core, one binary.

mod check;
mod graph;
mod manifest;
