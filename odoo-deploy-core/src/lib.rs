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
//! - [`odoo_tests`] — `odd test`: Odoo tests on throwaway databases copied from a cached
//!   template; results read from the log, JUnit XML.
//! - [`doctor`] — `odd doctor`: every precondition of a deploy, checked on the host.
//! - [`adopt`] — `odd init --from-host`: an environment read from a running server.
//! - [`refresh`] — `odd refresh`: another environment's data copied here, neutralized,
//!   anonymised and checked fail-closed.
//! - [`databases`] — one Odoo serving many databases: the fleet's list, each database's
//!   snapshot, update and check (`jobs` at once), its ledger entries.
//! - [`compose`] — Odoo as a compose service: the override naming the commit's image, the
//!   compose CLI detected, the filestore's bind mount checked on the engine.
//! - [`image`] — `odd image build`: the project's container image from a commit, labelled
//!   and tagged by it, pushed to the configured registry.
//! - [`event`] — what the engine reports (output lines, …).
//! - [`fleet`] — an environment of several hosts with roles (web, cron, the update
//!   host): the per-host phases on every host at once, the `hosts` and `filestore` gates.
//! - [`check`] — every problem in a set of addons at once, as diagnostics.
//! - [`lint`] — `odd lint`: odd's checks and the project's linters, findings normalised,
//!   reported as GitHub annotations, JUnit XML and SARIF.
//! - [`deploy`] — executing a plan (the update runs detached on the host, followed by
//!   polling); [`rollback`] — `odd rollback`, undoing a deploy or recovering a dead one;
//!   [`journal`] — each step written on the host before and after it runs; [`detached`] —
//!   the update run detached on the host: followed, waited for, or ended by a recovery;
//!   [`retention`] — what a deploy or a rollback prunes on the host afterwards.
//!
//! - [`runbook`] — the runbook as phases: the [`runbook::Phase`] trait, the executor, one
//!   file per step (and the rollback step that undoes it), the operator's hooks.
//!
//! The library never prints and never exits: it returns values and typed errors, and
//! reports progress as events that the caller renders.
//!
//! # Embedding
//!
//! A deploy from Rust, as `odd deploy` runs it: the environment read from `odd.toml`,
//! the plan made (a value: print it, change it), executed with an event sink of your own.
//! The `examples/` folder of this crate runs the same against the stand-in Odoo, with a
//! phase and a transport of its own.
//!
//! ```no_run
//! use std::path::Path;
//! use std::sync::Arc;
//!
//! use odoo_deploy_core::config::LoadedConfig;
//! use odoo_deploy_core::deploy::{self, DeployContext};
//! use odoo_deploy_core::event::Event;
//! use odoo_deploy_core::ops::{self, PlanRequest};
//! use odoo_deploy_core::target::Target;
//! use odoo_deploy_core::transport::{LocalTransport, Transport};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let root = Path::new("/srv/project");
//! let loaded = LoadedConfig::load(&root.join("odd.toml"))?;
//! let env = loaded.environment("staging")?;
//! let mut target = Target::resolve(&loaded, "staging", env)?;
//! let host: Arc<dyn Transport> = Arc::new(LocalTransport::new());
//! target.prepare(host.as_ref()).await?;
//!
//! let local = LocalTransport::new();
//! let request = PlanRequest {
//!     root,
//!     now: odoo_deploy_core::clock::now_unix(),
//!     who: "ci@build",
//!     window: &env.window,
//!     override_window: None,
//!     allow_remove: false,
//!     required_ledger: None,
//! };
//! let (plan, code, _) = ops::plan(&target, host.as_ref(), &local, &request).await?;
//! println!("{}", plan.render_text());
//!
//! let sink = |event: Event| eprintln!("{event:?}");
//! let ctx = DeployContext {
//!     target: &target,
//!     transport: host,
//!     local: &local,
//!     root,
//!     code: &code,
//!     events: &sink,
//!     machine: "build".to_owned(),
//!     pid: std::process::id(),
//!     webhook: None,
//!     fleet: Vec::new(),
//! };
//! let report = deploy::execute(&ctx, &plan).await?;
//! println!("{:?}: {:?}", report.outcome, report.reason);
//! # Ok(())
//! # }
//! ```
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

pub mod addon;
pub mod adopt;
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
pub mod databases;
pub mod deploy;
pub mod detached;
pub mod doctor;
pub mod event;
pub mod fleet;
pub mod git;
pub mod graph;
mod hook;
pub mod http;
pub mod image;
pub mod init;
pub mod installation;
pub mod journal;
pub mod ledger;
pub mod lint;
pub mod lock;
pub mod manifest;
pub mod odoo;
pub mod odoo_conf;
pub mod odoo_tests;
pub mod ops;
pub mod plan;
pub mod privacy;
pub mod refresh;
pub mod release;
pub mod retention;
pub mod rollback;
pub mod runbook;
pub mod service;
pub mod startup_log;
pub mod state;
pub mod target;
pub mod transport;
pub mod untrusted;
pub mod window;

#[cfg(test)]
mod testing;
