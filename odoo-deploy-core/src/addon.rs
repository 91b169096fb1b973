//! Addons.
