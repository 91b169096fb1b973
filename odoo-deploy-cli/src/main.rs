//! `odd`: safe, boring Odoo deployments.
fn main() {}
