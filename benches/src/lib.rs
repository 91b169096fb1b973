//! Shared helpers for odd's benchmarks.
