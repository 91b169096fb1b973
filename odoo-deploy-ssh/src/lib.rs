//! SSH transport for odd.
#![deny(clippy::print_stdout, clippy::print_stderr)]
