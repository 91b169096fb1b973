//! SSH failure paths, end to end, each against an sshd of its own.

use std::process::Command;
use std::time::{Duration, Instant};

use odoo_deploy_core::command::RemoteCommand;
use odoo_deploy_core::transport::{Discard, Transport, TransportError};
use odoo_deploy_fixtures::process::free_port;
use odoo_deploy_fixtures::sshd::Sshd;
use odoo_deploy_ssh::{KnownHostsPolicy, SshConfig, SshTransport};

use crate::support::{LOADED_GONE, config_for, connect, marker, pgrep, scratch, wait_gone};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sshd_killed_mid_command_is_connection_lost() {
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    let started = Instant::now();
    let cmd = RemoteCommand::new("sleep")
        .arg("30")
        .timeout(Duration::from_secs(20));
    let run = t.run(&cmd, &Discard);
    let kill = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        sshd.kill();
    };
    let (result, ()) = tokio::join!(run, kill);
    let err = result.unwrap_err();
    assert!(
        matches!(&err, TransportError::ConnectionLost { host, .. } if host == "127.0.0.1"),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_host_key_is_refused_with_help() {
    let sshd = Sshd::start();
    let dir = scratch();
    // known_hosts claims another key for this host and port.
    let other = dir.path().join("other");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let public = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let key: Vec<&str> = public.split_whitespace().take(2).collect();
    let kh = dir.path().join("known_hosts");
    std::fs::write(
        &kh,
        format!("{} {}\n", sshd.known_hosts_name(), key.join(" ")),
    )
    .unwrap();

    let err = SshTransport::connect(config_for(&sshd).known_hosts_file(&kh))
        .await
        .unwrap_err();
    match &err {
        TransportError::HostKeyMismatch { host, port, .. } => {
            assert_eq!(host, "127.0.0.1");
            assert_eq!(*port, sshd.port());
        }
        other => panic!("expected HostKeyMismatch, got {other:?}"),
    }
    let help = miette::Diagnostic::help(&err).unwrap().to_string();
    assert!(
        help.contains(&format!("ssh-keyscan -p {} 127.0.0.1", sshd.port())),
        "{help}"
    );
    assert!(
        help.contains(&format!("ssh-keygen -R '[127.0.0.1]:{}'", sshd.port())),
        "{help}"
    );
    // Even the explicit opt-in to new keys does not accept a changed one.
    let err = SshTransport::connect(
        config_for(&sshd)
            .known_hosts_file(&kh)
            .known_hosts(KnownHostsPolicy::Add),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, TransportError::HostKeyMismatch { .. }),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_key_needs_explicit_trust() {
    let sshd = Sshd::start();
    let dir = scratch();
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, "").unwrap();
    let err = SshTransport::connect(config_for(&sshd).known_hosts_file(&kh))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TransportError::UnknownHostKey { host, port } if host == "127.0.0.1" && *port == sshd.port()),
        "{err:?}"
    );
    let help = miette::Diagnostic::help(&err).unwrap().to_string();
    assert!(help.contains("ssh-keyscan"), "{help}");
    // The option as odd.toml spells it.
    assert!(help.contains("accept_new_host_key = true"), "{help}");

    // With the opt-in, the key is trusted and recorded.
    let t = SshTransport::connect(
        config_for(&sshd)
            .known_hosts_file(&kh)
            .known_hosts(KnownHostsPolicy::Add),
    )
    .await
    .unwrap();
    assert!(
        t.output(&RemoteCommand::new("true"))
            .await
            .unwrap()
            .status
            .success()
    );
    t.close().await.unwrap();
    let recorded = std::fs::read_to_string(&kh).unwrap();
    assert!(recorded.contains("ssh-ed25519"), "{recorded}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_port_is_a_connect_error() {
    let port = free_port(std::net::Ipv4Addr::LOCALHOST);
    let cfg = SshConfig::new("127.0.0.1")
        .port(port)
        .user("nobody")
        .ssh_config_file("/dev/null")
        .connect_timeout(Duration::from_secs(3));
    let started = Instant::now();
    let err = SshTransport::connect(cfg).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    match &err {
        TransportError::Connect { host, reason } => {
            assert_eq!(host, "127.0.0.1");
            assert!(reason.contains(&port.to_string()), "{reason}");
        }
        other => panic!("expected Connect, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_is_auth_refused() {
    let sshd = Sshd::shared();
    let dir = scratch();
    let key = dir.path().join("stranger");
    assert!(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap()
            .success()
    );
    let err = SshTransport::connect(config_for(sshd).identity_file(&key))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TransportError::AuthRefused { user, .. } if user == sshd.user()),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_authentication_for_many_commands_and_parallel_channels() {
    let sshd = Sshd::start();
    let t = std::sync::Arc::new(connect(&sshd).await);
    for i in 0..20 {
        let out = t
            .output(&RemoteCommand::new("echo").arg(i.to_string()))
            .await
            .unwrap();
        assert_eq!(out.stdout, format!("{i}\n").as_bytes());
    }
    // More at once than OpenSSH's mux allows: the transport queues them.
    let mut tasks = Vec::new();
    for i in 0..64 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            t.output(
                &RemoteCommand::new("sh")
                    .arg("-c")
                    .arg("sleep 0.2; echo $1")
                    .arg("sh")
                    .arg(i.to_string()),
            )
            .await
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let out = task.await.unwrap().unwrap();
        assert_eq!(out.stdout, format!("{i}\n").as_bytes());
    }
    assert_eq!(sshd.auth_count(), 1);
    std::sync::Arc::try_unwrap(t)
        .unwrap()
        .close()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_master_is_gone() {
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    assert!(
        t.output(&RemoteCommand::new("true"))
            .await
            .unwrap()
            .status
            .success()
    );
    sshd.restart();
    // The master saw its connection die; the next command opens a new one.
    let deadline = Instant::now() + Duration::from_secs(5);
    let socket = t.control_socket().await;
    while socket.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = t
        .output(&RemoteCommand::new("echo").arg("again"))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"again\n");
    assert_eq!(sshd.auth_count(), 2);
    t.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_the_master_and_removes_the_control_directory() {
    let sshd = Sshd::shared();
    let t = connect(sshd).await;
    let socket = t.control_socket().await;
    let control_dir = socket.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(socket.exists());
    assert!(
        control_dir.to_string_lossy().len() < 40,
        "{}",
        control_dir.display()
    );
    assert!(
        !pgrep(&socket.to_string_lossy()).is_empty(),
        "no master process"
    );
    t.close().await.unwrap();
    assert!(!control_dir.exists());
    let left = wait_gone(&socket.to_string_lossy(), LOADED_GONE);
    assert!(left.is_empty(), "master still running: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masters_of_dead_runs_are_swept() {
    let sshd = Sshd::shared();
    // A run that died: its pid is gone, its control directory and master are not.
    let mut child = Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    // Made under another name, renamed once the master runs: other tests sweep too.
    let staging = tempfile::Builder::new()
        .prefix("odd-stale-")
        .tempdir()
        .unwrap();
    let cfg = config_for(sshd);
    let mut b = openssh::SessionBuilder::default();
    b.port(cfg.port)
        .user(sshd.user().to_owned())
        .keyfile(sshd.identity())
        .user_known_hosts_file(sshd.known_hosts())
        .config_file("/dev/null")
        .control_directory(staging.path());
    let session = b.connect_mux(sshd.host()).await.unwrap();
    let (socket, _log) = session.detach();
    let socket = socket.to_string_lossy().into_owned();
    let dir = std::env::temp_dir().join(format!("odd-ssh-{dead_pid}-{}", std::process::id()));
    std::fs::rename(staging.path(), &dir).unwrap();
    assert!(!pgrep(&socket).is_empty(), "the orphan master should run");

    let t = connect(sshd).await;
    assert!(!dir.exists(), "stale control directory not swept");
    let left = wait_gone(&socket, LOADED_GONE);
    assert!(left.is_empty(), "stale master still running: {left:?}");
    t.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_env_never_shows_in_the_remote_process_list() {
    let sshd = Sshd::shared();
    let t = connect(sshd).await;
    let secret = marker("secret");
    let cmd = RemoteCommand::new("sh")
        .arg("-c")
        .arg(r#"printf '%s|' "$ODD_SECRET"; cat; sleep 1"#)
        .secret_env(
            "ODD_SECRET",
            odoo_deploy_core::command::Secret::new(secret.clone()),
        )
        .stdin_bytes(b"stdin after the secrets\n".to_vec());
    let watch = async {
        let mut seen = Vec::new();
        let end = Instant::now() + Duration::from_millis(900);
        while Instant::now() < end {
            seen.extend(pgrep(&secret));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        seen
    };
    let (out, seen) = tokio::join!(t.output(&cmd), watch);
    let out = out.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{secret}|stdin after the secrets\n")
    );
    assert!(seen.is_empty(), "secret visible in argv of {seen:?}");
    t.close().await.unwrap();
}
