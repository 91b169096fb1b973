//! Integration tests for odoo-deploy-core (one binary).

mod check;
mod graph;
