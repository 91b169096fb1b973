//! Checksum benchmark: odd's `checksum::checksums` against click-odoo-contrib's
//! `addon_hash` (the peer) and against plain `sha256sum`/`b3sum` over exactly the files
//! the checksum reads (the I/O limit), in the same run, on synthetic trees.
//!
//! `cargo run --release -p odoo-deploy-benches --bin checksums [-- ROUNDS]` (default 5)
//!
//! Sizes: `ODD_BENCH_MODULES` (comma-separated, default `1000,5000`). The peer is
//! click-odoo-contrib in `target/peers` (installed there the way `scripts/test` does if
//! missing) or the Python named by `ODD_PEER_PYTHON`. Every contender runs once before
//! timing (warm page cache); rounds interleave the contenders so machine noise hits all.
//! The bench fails if any addon's checksum differs from the peer's.
#![allow(clippy::disallowed_methods)] // the bench drives python, xargs and sha256sum
#![allow(clippy::print_stdout, clippy::print_stderr)] // a bench prints its figures

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use odoo_deploy_benches::{loadavg, median};
use odoo_deploy_core::checksum::{ChecksumRules, DEFAULT_EXCLUDE_PATTERNS, addon_files, checksums};
use odoo_deploy_fixtures::synth::generate_tree;
use serde_json::Value;

/// Languages installed in the benchmarked database: French `.po` files count, others not.
const LANGS: &[&str] = &["en_US", "fr_FR"];

/// click-odoo-contrib's own function, in one process, one round per input line.
const PEER_SCRIPT: &str = r#"
import sys, json, time
from click_odoo_contrib._addon_hash import addon_hash
cfg = json.loads(sys.stdin.readline())
dirs, patterns, langs = cfg["dirs"], cfg["patterns"], cfg["langs"]
for line in sys.stdin:
    t = time.perf_counter()
    sums = [addon_hash(d, patterns, langs) for d in dirs]
    out = {"secs": time.perf_counter() - t}
    if line.strip() == "sums":
        out["sums"] = sums
    print(json.dumps(out), flush=True)
"#;

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5)
        .max(1);
    let sizes: Vec<usize> = std::env::var("ODD_BENCH_MODULES")
        .unwrap_or_else(|_| "1000,5000".to_owned())
        .split(',')
        .map(|s| s.trim().parse().expect("ODD_BENCH_MODULES: numbers"))
        .collect();
    let rules = ChecksumRules::new(DEFAULT_EXCLUDE_PATTERNS, LANGS);
    let python = peer_python();
    if let Err(why) = &python {
        eprintln!("checksums: the peer cannot run: {why}");
    }
    let b3sum = Command::new("b3sum")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !b3sum {
        eprintln!("checksums: b3sum is not installed; sha256sum alone is the I/O limit");
    }
    let load_before = loadavg();
    let mut rows = Vec::new();
    for &n in &sizes {
        rows.push(bench_size(n, rounds, &rules, python.as_deref().ok(), b3sum));
    }
    let load_after = loadavg();

    println!();
    println!(
        "Checksums, median of {rounds} rounds each (warm page cache, rounds interleaved); \
         load average before/after: {load_before} / {load_after}"
    );
    println!();
    let b3_head = if b3sum { " b3sum -P2 |" } else { "" };
    println!(
        "| modules | files hashed | MiB | odd `checksums` | click-odoo-contrib `addon_hash` | sha256sum -P2 |{b3_head} odd vs peer (goal ≥ 10×) | odd vs limit (goal ≤ 1.5×) |"
    );
    println!(
        "|---|---|---|---|---|---|{}---|---|",
        if b3sum { "---|" } else { "" }
    );
    for r in &rows {
        let limit = r.b3.map_or(r.sha256, |b3| b3.min(r.sha256));
        println!(
            "| {} | {} | {:.1} | {} | {} | {} |{} {} | {:.2}× |",
            r.modules,
            r.files,
            r.bytes as f64 / (1024.0 * 1024.0),
            ms(r.odd),
            r.peer.map_or_else(|| "did not run".to_owned(), ms),
            ms(r.sha256),
            r.b3.map_or_else(String::new, |d| format!(" {} |", ms(d))),
            r.peer.map_or_else(
                || "n/a".to_owned(),
                |p| format!("**{:.1}×**", p.as_secs_f64() / r.odd.as_secs_f64())
            ),
            r.odd.as_secs_f64() / limit.as_secs_f64(),
        );
    }
    if python.is_ok() {
        println!();
        println!("odd's checksums equal click-odoo-contrib's for every addon of every tree.");
    }
}

struct Row {
    modules: usize,
    files: usize,
    bytes: u64,
    odd: Duration,
    peer: Option<Duration>,
    sha256: Duration,
    b3: Option<Duration>,
}

fn bench_size(
    n: usize,
    rounds: usize,
    rules: &ChecksumRules,
    python: Option<&Path>,
    b3sum: bool,
) -> Row {
    let tmp = tempfile::tempdir().expect("tempdir");
    let tree = generate_tree(tmp.path(), n, 42).expect("generate the tree");
    let mut addons: Vec<(String, PathBuf)> = Vec::new();
    for path in &tree.addons_paths {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .expect("addons path")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.join("__manifest__.py").is_file())
            .collect();
        entries.sort();
        for dir in entries {
            let name = dir
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            addons.push((name, dir));
        }
    }
    // Exactly the files the checksum reads, relative to the tree, NUL-separated.
    let mut list = Vec::new();
    let (mut files, mut bytes) = (0, 0);
    for (_, dir) in &addons {
        for rel in addon_files(dir, rules).expect("list files") {
            let path = dir.join(&rel);
            bytes += std::fs::metadata(&path).expect("stat").len();
            files += 1;
            let rel = path.strip_prefix(tmp.path()).expect("inside the tree");
            list.extend_from_slice(rel.as_os_str().as_encoded_bytes());
            list.push(0);
        }
    }
    let list_path = tmp.path().join("files.list");
    std::fs::write(&list_path, &list).expect("write the file list");
    eprintln!(
        "checksums: {n} modules: {} addons, {files} files hashed ({} written)",
        addons.len(),
        tree.files
    );

    let by_name: Vec<(&str, &Path)> = addons
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_path()))
        .collect();
    let odd = || {
        let t = Instant::now();
        let sums = checksums(by_name.iter().copied(), rules).expect("odd checksums");
        (t.elapsed(), sums)
    };
    let xargs = |tool: &str| {
        let t = Instant::now();
        let st = Command::new("xargs")
            .args(["-0", "-P2", tool])
            .current_dir(tmp.path())
            .stdin(std::fs::File::open(&list_path).expect("file list"))
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("xargs {tool}: {e}"));
        assert!(st.success(), "xargs {tool} failed: {st}");
        t.elapsed()
    };
    let mut peer = python.map(|py| Peer::start(py, &addons));

    // Warm-up round: every contender once; the peer's results are checked here.
    let (_, ours) = odd();
    xargs("sha256sum");
    if b3sum {
        xargs("b3sum");
    }
    if let Some(peer) = &mut peer {
        let (_, theirs) = peer.round(true);
        let theirs = theirs.expect("the peer's sums");
        assert_eq!(theirs.len(), addons.len(), "one sum per addon");
        let mut bad = Vec::new();
        for ((name, dir), theirs) in addons.iter().zip(&theirs) {
            if ours.get(name) != Some(theirs) {
                bad.push(format!(
                    "{}: odd {:?}, click-odoo-contrib {theirs}",
                    dir.display(),
                    ours.get(name)
                ));
            }
        }
        assert!(
            bad.is_empty(),
            "odd's checksums differ from click-odoo-contrib's for {} of {} addons:\n{}",
            bad.len(),
            addons.len(),
            bad.join("\n")
        );
        eprintln!(
            "checksums: {n} modules: all {} checksums equal click-odoo-contrib's",
            addons.len()
        );
    }

    let (mut t_odd, mut t_peer, mut t_sha, mut t_b3) = (vec![], vec![], vec![], vec![]);
    for round in 1..=rounds {
        t_odd.push(odd().0);
        t_sha.push(xargs("sha256sum"));
        if b3sum {
            t_b3.push(xargs("b3sum"));
        }
        if let Some(peer) = &mut peer {
            t_peer.push(peer.round(false).0);
        }
        eprintln!(
            "checksums: {n} modules, round {round}: odd {} sha256sum {}{}{}",
            ms(*t_odd.last().expect("a time")),
            ms(*t_sha.last().expect("a time")),
            t_b3.last()
                .map_or_else(String::new, |d| format!(" b3sum {}", ms(*d))),
            t_peer
                .last()
                .map_or_else(String::new, |d| format!(" peer {}", ms(*d))),
        );
    }
    if let Some(peer) = peer {
        peer.finish();
    }
    Row {
        modules: n,
        files,
        bytes,
        odd: median(t_odd),
        peer: (!t_peer.is_empty()).then(|| median(t_peer)),
        sha256: median(t_sha),
        b3: (!t_b3.is_empty()).then(|| median(t_b3)),
    }
}

/// The peer's Python process, kept alive across rounds.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn start(python: &Path, addons: &[(String, PathBuf)]) -> Self {
        let mut child = Command::new(python)
            .args(["-c", PEER_SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the peer");
        let mut stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let dirs: Vec<String> = addons
            .iter()
            .map(|(_, d)| d.display().to_string())
            .collect();
        let patterns: Vec<&str> = DEFAULT_EXCLUDE_PATTERNS.split(',').map(str::trim).collect();
        let cfg = serde_json::json!({ "dirs": dirs, "patterns": patterns, "langs": LANGS });
        writeln!(stdin, "{cfg}").expect("configure the peer");
        Self {
            child,
            stdin,
            stdout,
        }
    }

    fn round(&mut self, with_sums: bool) -> (Duration, Option<Vec<String>>) {
        writeln!(self.stdin, "{}", if with_sums { "sums" } else { "go" }).expect("peer stdin");
        self.stdin.flush().expect("peer stdin");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("peer stdout");
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the peer answered {line:?}: {e}"));
        let secs = v["secs"].as_f64().expect("secs");
        let sums = v["sums"].as_array().map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("a hex sum").to_owned())
                .collect()
        });
        (Duration::from_secs_f64(secs), sums)
    }

    fn finish(mut self) {
        drop(self.stdin);
        let st = self.child.wait().expect("the peer ends");
        assert!(st.success(), "the peer failed: {st}");
    }
}

/// click-odoo-contrib's Python: `ODD_PEER_PYTHON`, or the venv `scripts/test` makes in
/// `target/peers` (made here the same way if missing).
fn peer_python() -> Result<PathBuf, String> {
    let imports = |py: &Path| {
        Command::new(py)
            .args(["-c", "import click_odoo_contrib._addon_hash"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if let Ok(py) = std::env::var("ODD_PEER_PYTHON") {
        let py = PathBuf::from(py);
        return if imports(&py) {
            Ok(py)
        } else {
            Err(format!(
                "ODD_PEER_PYTHON={} cannot import click_odoo_contrib",
                py.display()
            ))
        };
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf();
    let venv = root.join("target/peers");
    let py = venv.join("bin/python");
    if imports(&py) {
        return Ok(py);
    }
    eprintln!(
        "checksums: installing click-odoo-contrib into {}",
        venv.display()
    );
    let _ = std::fs::remove_dir_all(&venv);
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "click-odoo-contrib",
            ])
            .status()
            .is_ok_and(|s| s.success());
    if ok && imports(&py) {
        Ok(py)
    } else {
        Err(format!(
            "could not install click-odoo-contrib into {} (python3 -m venv + pip install)",
            venv.display()
        ))
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}
