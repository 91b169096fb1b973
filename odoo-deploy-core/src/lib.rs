//! The odd engine.
//!
//! # Layout
//!
//! - [`manifest`] — one `__manifest__.py`, parsed with `ast.literal_eval`'s rules, with spans.
//! - [`addon`] — addon directories on addons paths; Odoo's precedence for duplicates.
//! - [`graph`] — the dependency graph: load order, cycles, missing dependencies, closures.
//! - [`check`] — every problem in a set of addons at once, as diagnostics.
//!
//! The library never prints and never exits: it returns values and typed errors, and
//! reports progress as events that the caller renders.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod addon;
pub mod check;
pub mod graph;
pub mod manifest;
