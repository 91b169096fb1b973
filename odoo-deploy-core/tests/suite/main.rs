//! The integration tests of odoo-deploy-core, one binary.

mod manifest;
