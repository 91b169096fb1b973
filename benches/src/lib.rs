//! Shared helpers for odd's benchmarks.
#![allow(clippy::disallowed_methods)] // the benches run the odd binary

pub mod odd;
pub mod soak;

use std::time::Duration;

/// A whole number from the environment variable `name`, or `default`.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median (the upper one of an even count); `v` must not be empty.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Seconds with two decimals, e.g. `1.23 s`.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// The 1, 5 and 15 minute load averages, or `?`.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

/// Deterministic incompressible bytes.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// An SSH configuration for the harness sshd: its user, key and known_hosts, and no
/// `~/.ssh/config`.
pub fn harness_ssh_config(sshd: &odoo_deploy_fixtures::sshd::Sshd) -> odoo_deploy_ssh::SshConfig {
    odoo_deploy_ssh::SshConfig::new(sshd.host())
        .port(sshd.port())
        .user(sshd.user())
        .identity_file(sshd.identity())
        .known_hosts_file(sshd.known_hosts())
        .ssh_config_file("/dev/null")
}
