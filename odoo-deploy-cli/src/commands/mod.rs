//! One file per command: arguments in, one call into core, rendering out.

pub(crate) mod backup;
pub(crate) mod changes;
pub(crate) mod check;
pub(crate) mod deploy;
pub(crate) mod docs;
pub(crate) mod doctor;
pub(crate) mod graph;
pub(crate) mod image;
pub(crate) mod init;
pub(crate) mod lint;
pub(crate) mod manifest;
pub(crate) mod plan;
pub(crate) mod refresh;
pub(crate) mod rollback;
pub(crate) mod status;
pub(crate) mod test;

use std::path::PathBuf;

/// `--addons-path`, repeatable, each possibly comma-separated like Odoo's.
#[derive(Debug, clap::Args)]
pub(crate) struct AddonsPaths {
    /// Addons path (repeat it, or separate paths with commas as Odoo does).
    #[arg(long = "addons-path", value_name = "PATH", required = true)]
    addons_path: Vec<String>,
}

impl AddonsPaths {
    pub(crate) fn paths(&self) -> Vec<PathBuf> {
        odoo_deploy_core::addon::split_addons_paths(&self.addons_path)
    }
}
