//! The same behaviour from every transport: each test below runs against
//! `LocalTransport` and against `SshTransport` on the harness sshd.

use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use odoo_deploy_core::command::{RemoteCommand, Secret};
use odoo_deploy_core::event::Stream;
use odoo_deploy_core::transport::{Discard, Transport, TransportError};

use crate::support::{LOADED_GONE, marker, scratch, sha256_file, wait_gone, write_pattern};

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod local {
            use odoo_deploy_core::transport::LocalTransport;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = LocalTransport::new();
                    super::$name(&t).await;
                }
            )*
        }
        mod ssh {
            use odoo_deploy_fixtures::sshd::Sshd;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = crate::support::connect(Sshd::shared()).await;
                    super::$name(&t).await;
                    t.close().await.expect("close the ssh transport");
                }
            )*
        }
    };
}

conformance!(
    exit_codes,
    killed_by_a_signal_has_no_exit_code,
    missing_program_and_directory,
    non_zero_exit_carries_stderr_tail,
    lines_stream_as_they_come,
    stdin_bytes_and_file,
    env_and_cwd,
    hostile_arguments,
    non_utf8_output,
    large_files_stream_both_ways,
    timeout_kills_the_whole_process_group,
    files_links_and_disk,
    upload_of_missing_directory_fails_cleanly,
    failed_upload_keeps_the_old_file,
    dropped_run_with_timeout_leaves_nothing,
    detached_runs_end_as_they_ended,
    an_orphaned_detached_run_is_stopped_whole_or_waited_for,
);

fn sh(script: &str) -> RemoteCommand {
    RemoteCommand::new("sh").arg("-c").arg(script).arg("sh")
}

async fn exit_codes(t: &dyn Transport) {
    let out = t.output(&RemoteCommand::new("true")).await.unwrap();
    assert!(out.status.success());
    let out = t.output(&sh("exit 3")).await.unwrap();
    assert_eq!(out.status.code(), Some(3));
    let out = t
        .output(&sh("echo out; echo err >&2; exit 0"))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
}

async fn killed_by_a_signal_has_no_exit_code(t: &dyn Transport) {
    let out = t.output(&sh("echo before; kill -KILL $$")).await.unwrap();
    assert_eq!(out.stdout, b"before\n");
    assert_eq!(out.status.code(), None, "{:?}", out.status);
    assert!(!out.status.success());
    // The connection is still fine afterwards.
    assert!(
        t.output(&RemoteCommand::new("true"))
            .await
            .unwrap()
            .status
            .success()
    );
}

async fn missing_program_and_directory(t: &dyn Transport) {
    let out = t
        .output(&RemoteCommand::new("odd-no-such-program-xyz"))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("odd-no-such-program-xyz"));
    let out = t
        .output(&RemoteCommand::new("true").current_dir("/nonexistent/odd dir"))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/odd dir"));
}

async fn non_zero_exit_carries_stderr_tail(t: &dyn Transport) {
    let cmd = sh("i=0; while [ $i -lt 30 ]; do echo line$i >&2; i=$((i+1)); done; exit 5");
    let err = t.check(&cmd, &Discard).await.unwrap_err();
    match &err {
        TransportError::NonZeroExit {
            host,
            code,
            stderr_tail,
            ..
        } => {
            assert_eq!(host, t.host());
            assert_eq!(*code, Some(5));
            let lines: Vec<&str> = stderr_tail.lines().collect();
            assert_eq!(lines.len(), 20);
            assert_eq!(lines[0], "line10");
            assert_eq!(lines[19], "line29");
        }
        other => panic!("expected NonZeroExit, got {other:?}"),
    }
    assert!(err.to_string().contains("exit code 5"), "{err}");
    // A secret never shows in the error.
    let cmd = RemoteCommand::new("false").secret_env("PGPASSWORD", Secret::new("hunter2"));
    let err = t.check(&cmd, &Discard).await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
}

async fn lines_stream_as_they_come(t: &dyn Transport) {
    let seen: Mutex<Vec<(Instant, Stream, Vec<u8>)>> = Mutex::new(Vec::new());
    let sink = |s: Stream, l: &[u8]| seen.lock().unwrap().push((Instant::now(), s, l.to_vec()));
    let status = t
        .run(
            &sh("echo first; sleep 1; echo second >&2; sleep 1; echo third"),
            &sink,
        )
        .await
        .unwrap();
    let ended = Instant::now();
    assert!(status.success());
    let seen = seen.into_inner().unwrap();
    let lines: Vec<(Stream, &[u8])> = seen.iter().map(|(_, s, l)| (*s, l.as_slice())).collect();
    assert_eq!(
        lines,
        vec![
            (Stream::Stdout, &b"first\n"[..]),
            (Stream::Stderr, &b"second\n"[..]),
            (Stream::Stdout, &b"third\n"[..]),
        ]
    );
    // Each line arrived when printed, not at the end.
    assert!(seen[1].0 - seen[0].0 >= Duration::from_millis(700));
    assert!(ended - seen[0].0 >= Duration::from_millis(1400));
}

async fn stdin_bytes_and_file(t: &dyn Transport) {
    let data = b"one\ntwo\n\x00\xff three".to_vec();
    let out = t
        .output(&RemoteCommand::new("cat").stdin_bytes(data.clone()))
        .await
        .unwrap();
    assert_eq!(out.stdout, data);

    let dir = scratch();
    let file = dir.path().join("in.bin");
    write_pattern(&file, 1 << 20);
    let out = t
        .output(&RemoteCommand::new("wc").arg("-c").stdin_file(&file))
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1048576");

    // Without stdin, a reader sees end of file at once.
    let out = t.output(&RemoteCommand::new("cat")).await.unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
}

async fn env_and_cwd(t: &dyn Transport) {
    let dir = scratch();
    let sub = dir.path().join("with space'quote");
    std::fs::create_dir(&sub).unwrap();
    let cmd = sh(r#"printf '%s|%s|%s|' "$ODD_A" "$ODD_SECRET" "$ODD_EMPTY"; pwd"#)
        .env("ODD_A", "a b'c $(x) `y`")
        .env("ODD_EMPTY", "")
        .secret_env("ODD_SECRET", Secret::new("s3cr3t"))
        .current_dir(&sub);
    assert!(!cmd.display_redacted().contains("s3cr3t"));
    let out = t.output(&cmd).await.unwrap();
    assert!(
        out.status.success(),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = format!("a b'c $(x) `y`|s3cr3t||{}\n", sub.display());
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);

    let bad = RemoteCommand::new("true").env("NOT VALID", "x");
    let err = t.run(&bad, &Discard).await.unwrap_err();
    assert!(
        matches!(err, TransportError::InvalidCommand { .. }),
        "{err:?}"
    );
}

/// Arguments a shell would love to interpret arrive byte for byte.
async fn hostile_arguments(t: &dyn Transport) {
    let args: Vec<&[u8]> = vec![
        b"",
        b" ",
        b"'",
        b"''",
        b"\"",
        b"\\",
        b"'\\''",
        b"$(touch /tmp/odd-pwned)",
        b"`touch /tmp/odd-pwned`",
        b"; rm -rf /",
        b"a\nb",
        b"*",
        b"~",
        b"-n",
        b"--",
        b"$HOME",
        b"${IFS}",
        b"\t\r",
        b"\xff\xfe\x80",
        b"!",
        b"#comment",
        b"&&",
        b"|",
        b">x",
    ];
    let mut cmd = sh(r#"for a; do printf '%s\0' "$a"; done"#);
    for a in &args {
        cmd = cmd.arg(std::ffi::OsStr::from_bytes(a));
    }
    let out = t.output(&cmd).await.unwrap();
    assert!(out.status.success());
    let mut expected = Vec::new();
    for a in &args {
        expected.extend_from_slice(a);
        expected.push(0);
    }
    assert_eq!(out.stdout, expected);
    assert!(!Path::new("/tmp/odd-pwned").exists());
}

async fn non_utf8_output(t: &dyn Transport) {
    let out = t
        .output(&RemoteCommand::new("printf").arg(r"\377\376\n\200 no newline"))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"\xff\xfe\n\x80 no newline");
}

async fn large_files_stream_both_ways(t: &dyn Transport) {
    const SIZE: usize = 64 << 20;
    let dir = scratch();
    let local = dir.path().join("big.bin");
    write_pattern(&local, SIZE);
    let digest = sha256_file(&local);
    let remote = dir.path().join("remote").join("big copy.bin");
    t.mkdir_p(remote.parent().unwrap()).await.unwrap();

    let mut reader = tokio::fs::File::open(&local).await.unwrap();
    let n = t.upload(&mut reader, &remote).await.unwrap();
    assert_eq!(n, SIZE as u64);
    let out = t
        .check_output(&RemoteCommand::new("sha256sum").arg("--").arg(&remote))
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out).starts_with(&digest),
        "remote digest differs"
    );

    let back = dir.path().join("back.bin");
    let mut writer = tokio::fs::File::create(&back).await.unwrap();
    let n = t.download(&remote, &mut writer).await.unwrap();
    drop(writer);
    assert_eq!(n, SIZE as u64);
    assert_eq!(sha256_file(&back), digest);
    // Only the final file is left: the temporary name was renamed away.
    let names: Vec<_> = std::fs::read_dir(remote.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("big copy.bin")]);
}

async fn timeout_kills_the_whole_process_group(t: &dyn Transport) {
    let mark = marker("timeout");
    // A child and a grandchild, both carrying the marker.
    let cmd = sh(r#"sh -c 'sleep 60' "$1-child" & sleep 60; wait"#)
        .arg(&mark)
        .timeout(Duration::from_millis(800));
    let started = Instant::now();
    let err = t.run(&cmd, &Discard).await.unwrap_err();
    let took = started.elapsed();
    match &err {
        TransportError::TimedOut { after, host, .. } => {
            assert_eq!(*after, Duration::from_millis(800));
            assert_eq!(host, t.host());
        }
        other => panic!("expected TimedOut, got {other:?}"),
    }
    assert!(took >= Duration::from_millis(800), "{took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    let left = wait_gone(&mark, LOADED_GONE);
    assert!(left.is_empty(), "orphans left: {left:?}");
    // A command that ends in time is not affected by its timeout.
    let out = t
        .output(
            &RemoteCommand::new("echo")
                .arg("ok")
                .timeout(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout, b"ok\n");
}

async fn files_links_and_disk(t: &dyn Transport) {
    let dir = scratch();
    let base = dir.path().join("a b").join("c");
    assert!(!t.exists(&base).await.unwrap());
    t.mkdir_p(&base).await.unwrap();
    assert!(t.exists(&base).await.unwrap());

    let f = base.join("f.txt");
    t.write_file(&f, b"hello\n").await.unwrap();
    assert_eq!(t.read_file(&f).await.unwrap(), b"hello\n");
    t.write_file(&f, b"replaced").await.unwrap();
    assert_eq!(t.read_file(&f).await.unwrap(), b"replaced");

    let g = base.join("g.txt");
    t.rename(&f, &g).await.unwrap();
    assert!(!t.exists(&f).await.unwrap());
    assert_eq!(t.read_file(&g).await.unwrap(), b"replaced");

    // Release directories and an atomic `current` switch.
    let r1 = base.join("release-1");
    let r2 = base.join("release-2");
    t.mkdir_p(&r1).await.unwrap();
    t.mkdir_p(&r2).await.unwrap();
    t.write_file(&r1.join("v"), b"1").await.unwrap();
    t.write_file(&r2.join("v"), b"2").await.unwrap();
    let current = base.join("current");
    t.symlink_switch(&current, &r1).await.unwrap();
    assert_eq!(t.read_file(&current.join("v")).await.unwrap(), b"1");
    t.symlink_switch(&current, &r2).await.unwrap();
    assert_eq!(t.read_file(&current.join("v")).await.unwrap(), b"2");
    assert_eq!(std::fs::read_link(&current).unwrap(), r2);
    // The switch replaced the link; it did not create a link inside release-1.
    assert!(!r1.join("release-2").exists());
    assert!(!r1.join("current").exists());

    let free = t.free_disk(dir.path()).await.unwrap();
    assert!(free > 1 << 20, "free space {free}");

    let err = t.read_file(&base.join("missing")).await.unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::NonZeroExit { .. } | TransportError::Io { .. }
        ),
        "{err:?}"
    );
}

async fn upload_of_missing_directory_fails_cleanly(t: &dyn Transport) {
    let dir = scratch();
    let target = dir.path().join("no-such-dir").join("f");
    let err = t.write_file(&target, b"x").await.unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::NonZeroExit { .. } | TransportError::Io { .. }
        ),
        "{err:?}"
    );
    assert!(!dir.path().join("no-such-dir").exists());
}

/// Gives `good` bytes, then fails.
struct FailingReader {
    good: usize,
}

impl tokio::io::AsyncRead for FailingReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.good == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::other("disk on fire")));
        }
        let n = self.good.min(buf.remaining()).min(8192);
        buf.put_slice(&vec![b'x'; n]);
        self.good -= n;
        std::task::Poll::Ready(Ok(()))
    }
}

async fn failed_upload_keeps_the_old_file(t: &dyn Transport) {
    let dir = scratch();
    let target = dir.path().join("config.toml");
    t.write_file(&target, b"old").await.unwrap();
    let mut reader = FailingReader { good: 1 << 20 };
    let err = t.upload(&mut reader, &target).await.unwrap_err();
    assert!(matches!(err, TransportError::Io { .. }), "{err:?}");
    assert_eq!(t.read_file(&target).await.unwrap(), b"old");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("config.toml")]);
}

/// A caller that gives up on a command (drops the future) does not leave it running
/// past its timeout.
async fn dropped_run_with_timeout_leaves_nothing(t: &dyn Transport) {
    let mark = marker("dropped");
    let cmd = sh(r#"sh -c 'sleep 60' "$1-child" & sleep 60; wait"#)
        .arg(&mark)
        .timeout(Duration::from_secs(1));
    let gave_up = tokio::time::timeout(Duration::from_millis(300), t.run(&cmd, &Discard)).await;
    assert!(gave_up.is_err(), "the command should still be running");
    let left = wait_gone(&mark, LOADED_GONE);
    assert!(left.is_empty(), "left running: {left:?}");
}

/// A detached run (the way the update runs) is read as it ended: an exit code as an exit
/// code — 255 included, which is Odoo's failure and not a signal — a signal only when
/// it was killed by one, and a timeout as such.
async fn detached_runs_end_as_they_ended(t: &dyn Transport) {
    use odoo_deploy_core::detached::{DetachedRun, Exit};
    let dir = scratch();
    let limit = Duration::from_secs(120);
    let cases: [(&str, RemoteCommand, Duration, Exit); 5] = [
        ("ok", sh("exit 0"), limit, Exit::Code { code: 0 }),
        ("one", sh("exit 1"), limit, Exit::Code { code: 1 }),
        ("odoo", sh("exit 255"), limit, Exit::Code { code: 255 }),
        (
            "killed",
            sh("kill -KILL $$"),
            limit,
            Exit::Signal { signal: 9 },
        ),
        (
            "slow",
            RemoteCommand::new("sleep")
                .arg("60")
                .timeout(Duration::from_secs(1)),
            Duration::from_secs(1),
            Exit::TimedOut { after_secs: 1 },
        ),
    ];
    for (name, cmd, timeout, expected) in cases {
        let log = dir.path().join(format!("{name}.log"));
        let status = dir.path().join(format!("{name}.status"));
        let run = DetachedRun::at(dir.path().to_path_buf(), log.clone(), status.clone());
        let exit = run
            .run(
                t,
                &cmd.detached(&log, &status),
                &Discard,
                timeout,
                Duration::from_secs(30),
            )
            .await
            .unwrap();
        assert_eq!(exit, expected, "{name}");
    }
    assert_eq!(
        Exit::Code { code: 255 }.to_string(),
        "exited with 255",
        "said as a code"
    );
}

/// An orphaned detached run (its follower gone) is ended whole — the shell, `timeout`
/// and the program's own children — and seen gone, leaving no status file behind; or it
/// is waited for until it ends by itself.
async fn an_orphaned_detached_run_is_stopped_whole_or_waited_for(t: &dyn Transport) {
    use odoo_deploy_core::detached::{DetachedRun, Exit, OrphanOutcome};
    let dir = scratch();
    let mark = marker("orphan");
    let log = dir.path().join("u.log");
    let status = dir.path().join("u.status");
    let run = DetachedRun::at(dir.path().to_path_buf(), log.clone(), status.clone());
    // A child that ignores SIGTERM, so the group needs SIGKILL too.
    let cmd = sh(r#"sh -c 'trap "" TERM; sleep 60' "$1-child" & echo started; sleep 60; wait"#)
        .arg(&mark)
        .timeout(Duration::from_secs(600))
        .detached(&log, &status);
    t.check_output(&cmd).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("started")
    {
        assert!(Instant::now() < deadline, "the run never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let outcome = run
        .settle(t, false, Duration::ZERO, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(
        matches!(outcome, OrphanOutcome::Stopped { killed: true, .. }),
        "{outcome:?}"
    );
    let left = wait_gone(&mark, LOADED_GONE);
    assert!(left.is_empty(), "left running: {left:?}");
    assert!(!status.exists(), "a stopped run writes no status");
    assert_eq!(
        run.settle(t, false, Duration::ZERO, Duration::from_secs(1))
            .await
            .unwrap(),
        OrphanOutcome::NotRunning,
        "nothing left to stop"
    );

    // Waited for: it ends by itself, with its own code (a run of its own files: the
    // first one's log is still there).
    let log = dir.path().join("w.log");
    let status = dir.path().join("w.status");
    let run = DetachedRun::at(dir.path().to_path_buf(), log.clone(), status.clone());
    let cmd = sh("sleep 1; exit 3").detached(&log, &status);
    t.check_output(&cmd).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log.exists() {
        assert!(Instant::now() < deadline, "the second run never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let outcome = run
        .settle(t, true, Duration::from_secs(120), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        OrphanOutcome::WaitedFor {
            exit: Exit::Code { code: 3 }
        }
    );
}
