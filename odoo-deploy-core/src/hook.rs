//! A test hook compiled into the binary, inert in use: the end-to-end crash matrix
//! needs odd to stand still at a precise point while it kills odd, sshd or PostgreSQL.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// TEST HOOK, off unless both `ODD_PAUSE_AT` and `ODD_PAUSE_FILE` are set: when the step
/// named `ODD_PAUSE_AT` is reached (a deploy step's journal name such as `verify
/// modules`, its journal entry written and nothing of it done; or a point inside a step,
/// like `restore swapped databases`), odd creates `<ODD_PAUSE_FILE>.reached` and waits
/// until `<ODD_PAUSE_FILE>` exists (polling every 50 ms, giving up after 60 s). The
/// end-to-end failure matrix uses it to kill odd, sshd or PostgreSQL at a precise step.
pub(crate) async fn pause(step: &str) {
    let (Some(at), Some(file)) = (
        std::env::var_os("ODD_PAUSE_AT"),
        std::env::var_os("ODD_PAUSE_FILE"),
    ) else {
        return;
    };
    if at != step {
        return;
    }
    let release = PathBuf::from(&file);
    let mut reached = file;
    reached.push(".reached");
    if std::fs::write(&reached, b"").is_err() {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && !release.exists() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
