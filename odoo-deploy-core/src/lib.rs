//! The odd engine.
//!
//! # Layout
//!
//! - [`manifest`] — one `__manifest__.py`, parsed with `ast.literal_eval`'s rules, with spans.
//! - [`addon`] — addon directories on addons paths; Odoo's precedence for duplicates.
//! - [`graph`] — the dependency graph: load order, cycles, missing dependencies, closures.
//! - [`archive`] — the release archive: the commit and its git submodules, as one tar.
//! - [`installation`] — what the host provides (Odoo's own addons, shared addons, its
//!   config file [`odoo_conf`]), read over the transport and joined to the repository's.
//! - [`command`] — commands as data, rendered to shell text in one place, secrets redacted.
//! - [`transport`] — running commands and moving files on a host; [`transport::LocalTransport`].
//! - [`backup`] — snapshots and dumps of database + filestore, verified; restore by rename.
//! - [`privacy`] — whether odd's folders on a host are private (for `odd doctor`).
//! - [`untrusted`] — what a host says back (listings, ledger, journal, metadata), checked
//!   against exact patterns before use.
//! - [`startup_log`] — where Odoo's startup log is read from after a start, per strategy.
//! - [`doctor`] — `odd doctor`: every precondition of a deploy, checked on the host.
//! - [`compose`] — Odoo as a compose service: the override naming the commit's image, the
//!   compose CLI detected, the filestore's bind mount checked on the engine.
//! - [`image`] — `odd image build`: the project's container image from a commit, labelled
//!   and tagged by it, pushed to the configured registry.
//! - [`event`] — what the engine reports (output lines, …).
//! - [`check`] — every problem in a set of addons at once, as diagnostics.
//! - [`deploy`] — executing a plan (the update runs detached on the host, followed by
//!   polling); [`rollback`] — `odd rollback`, undoing a deploy or recovering a dead one;
//!   [`journal`] — each step written on the host before and after it runs; [`detached`] —
//!   the update run detached on the host: followed, waited for, or ended by a recovery.
//!
//! The library never prints and never exits: it returns values and typed errors, and
//! reports progress as events that the caller renders.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod addon;
pub mod advisory;
pub mod archive;
pub mod backup;
pub mod changes;
pub mod check;
pub mod checksum;
pub mod clock;
pub mod command;
pub mod compose;
pub mod config;
pub mod deploy;
pub mod detached;
pub mod doctor;
pub mod event;
pub mod git;
pub mod graph;
mod hook;
pub mod http;
pub mod image;
pub mod init;
pub mod installation;
pub mod journal;
pub mod ledger;
pub mod lock;
pub mod manifest;
pub mod odoo;
pub mod odoo_conf;
pub mod ops;
pub mod plan;
pub mod privacy;
pub mod release;
pub mod rollback;
pub mod service;
pub mod startup_log;
pub mod state;
pub mod target;
pub mod transport;
pub mod untrusted;
pub mod window;

#[cfg(test)]
mod testing;
