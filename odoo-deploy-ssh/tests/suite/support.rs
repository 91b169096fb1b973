//! Shared helpers: connecting to the harness sshd, scratch directories, markers.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use odoo_deploy_fixtures::sshd::Sshd;
use odoo_deploy_ssh::{SshConfig, SshTransport};

/// A config reaching `sshd` with its key and known_hosts, ignoring the user's ssh config.
pub(crate) fn config_for(sshd: &Sshd) -> SshConfig {
    SshConfig::new(sshd.host())
        .port(sshd.port())
        .user(sshd.user())
        .identity_file(sshd.identity())
        .known_hosts_file(sshd.known_hosts())
        .ssh_config_file("/dev/null")
        .connect_timeout(Duration::from_secs(5))
}

pub(crate) async fn connect(sshd: &Sshd) -> SshTransport {
    SshTransport::connect(config_for(sshd))
        .await
        .expect("connect to the harness sshd")
}

/// A scratch directory that the remote login user can write to.
pub(crate) fn scratch() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("odd-transport-")
        .tempdir()
        .expect("tempdir");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    d
}

/// A string unique to this test process and call, to find processes with `pgrep -f`.
pub(crate) fn marker(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "odd-marker-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Pids of processes whose command line contains `pattern` (like `pgrep -f`, read
/// from `/proc`; this process and its threads excluded).
pub(crate) fn pgrep(pattern: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let joined: Vec<u8> = cmdline
            .iter()
            .map(|&b| if b == 0 { b' ' } else { b })
            .collect();
        if String::from_utf8_lossy(&joined).contains(pattern) {
            found.push(name);
        }
    }
    found
}

/// How long a process may take to be gone after it was ended, on a loaded 2-core
/// machine ([`wait_gone`] returns as soon as it is).
pub(crate) const LOADED_GONE: Duration = Duration::from_secs(60);

/// Waits up to `limit` for no process to match `pattern`; returns what is left.
pub(crate) fn wait_gone(pattern: &str, limit: Duration) -> Vec<String> {
    let end = Instant::now() + limit;
    loop {
        let left = pgrep(pattern);
        if left.is_empty() || Instant::now() > end {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The SHA-256 of a local file, by `sha256sum` (fast even in debug builds).
pub(crate) fn sha256_file(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg("--")
        .arg(path)
        .output()
        .expect("run sha256sum");
    assert!(out.status.success(), "sha256sum failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned()
}

/// Writes `size` bytes of a cheap deterministic non-repeating pattern to `path`.
pub(crate) fn write_pattern(path: &Path, size: usize) {
    use std::io::Write as _;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut written = 0;
    let mut block = [0u8; 8192];
    while written < size {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        let n = block.len().min(size - written);
        f.write_all(&block[..n]).expect("write");
        written += n;
    }
    f.flush().expect("flush");
}
