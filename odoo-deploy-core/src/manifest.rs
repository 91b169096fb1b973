//! Odoo manifests (`__manifest__.py`, or `__openerp__.py` in older trees), read with the
//! rules of Python's `ast.literal_eval`, which is what Odoo itself uses.
//!
//! [`Value`] is the literal as Python would build it; [`Manifest`] is the typed model on top.
//! Every value keeps the [`Span`] of the text it came from, so later checks can point at it.

use std::path::{Path, PathBuf};

/// Byte range in the manifest's source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        (span.offset, span.len).into()
    }
}

/// The manifest file names Odoo looks for, in its order.
pub const MANIFEST_NAMES: [&str; 2] = ["__manifest__.py", "__openerp__.py"];

/// A manifest file inside `dir`, if there is one.
pub fn manifest_file(dir: &Path) -> Option<PathBuf> {
    MANIFEST_NAMES
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}
