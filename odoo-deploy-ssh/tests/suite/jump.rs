//! Several hosts on loopback addresses, and a jump host.

use std::net::Ipv4Addr;

use odoo_deploy_core::command::RemoteCommand;
use odoo_deploy_core::transport::Transport;
use odoo_deploy_fixtures::sshd::Sshd;

use crate::support::{config_for, scratch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaches_a_host_through_a_jump_host() {
    let jump = Sshd::start();
    let target = Sshd::builder().address(Ipv4Addr::new(127, 0, 0, 2)).start();
    assert_eq!(target.host(), "127.0.0.2");
    // The jump hop is a separate ssh process: it reads its settings from the ssh
    // config file, like a user's `Host` block would.
    let dir = scratch();
    let ssh_config = dir.path().join("ssh_config");
    std::fs::write(
        &ssh_config,
        format!(
            "Host odd-jump\n  HostName {}\n  Port {}\n  User {}\n  IdentityFile {}\n  \
             IdentitiesOnly yes\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  BatchMode yes\n",
            jump.host(),
            jump.port(),
            jump.user(),
            jump.identity().display(),
            jump.known_hosts().display(),
        ),
    )
    .unwrap();
    let cfg = config_for(&target)
        .ssh_config_file(&ssh_config)
        .jump_host("odd-jump");
    let t = odoo_deploy_ssh::SshTransport::connect(cfg).await.unwrap();
    let out = t
        .output(
            &RemoteCommand::new("sh")
                .arg("-c")
                .arg("echo \"$SSH_CONNECTION\""),
        )
        .await
        .unwrap();
    // The target saw the connection come from the jump host's side of loopback.
    let seen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        seen.contains(&format!("127.0.0.2 {}", target.port())),
        "{seen}"
    );
    assert_eq!(jump.auth_count(), 1);
    assert_eq!(target.auth_count(), 1);
    t.close().await.unwrap();
}
