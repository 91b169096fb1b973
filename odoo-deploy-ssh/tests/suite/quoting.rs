//! Any argument (bytes without NUL) reaches the program unchanged: through a real
//! `sh -c` of the rendered text, and through sshd.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::process::Command;

use odoo_deploy_core::command::RemoteCommand;
use odoo_deploy_core::transport::Transport;
use odoo_deploy_fixtures::sshd::Sshd;
use proptest::prelude::*;

/// Prints each argument followed by NUL.
fn echo_args(args: &[Vec<u8>]) -> RemoteCommand {
    let mut cmd = RemoteCommand::new("sh")
        .arg("-c")
        .arg(r#"for a; do printf '%s\0' "$a"; done"#)
        .arg("sh");
    for a in args {
        cmd = cmd.arg(OsStr::from_bytes(a));
    }
    cmd
}

fn nul_joined(args: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::new();
    for a in args {
        v.extend_from_slice(a);
        v.push(0);
    }
    v
}

/// Byte strings without NUL, biased towards what shells treat specially.
fn hostile() -> impl Strategy<Value = Vec<u8>> {
    let special = prop::sample::select(vec![
        b'\'', b'"', b'\\', b'$', b'(', b')', b'`', b';', b'&', b'|', b'\n', b' ', b'\t', b'*',
        b'?', b'[', b']', b'~', b'-', b'#', b'!', b'{', b'}', b'<', b'>', b'=', b'%', 0xff, 0x80,
        0xc3,
    ]);
    let byte = prop_oneof![special, 1u8..=255u8];
    prop::collection::vec(byte, 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn any_argument_survives_sh(args in prop::collection::vec(hostile(), 0..6)) {
        let cmd = echo_args(&args);
        let out = Command::new("sh")
            .arg("-c")
            .arg(OsStr::from_bytes(&cmd.to_shell()))
            .output()
            .unwrap();
        prop_assert!(out.status.success(), "{:?}", String::from_utf8_lossy(&out.stderr));
        prop_assert_eq!(out.stdout, nul_joined(&args));
    }
}

/// The same property through sshd, all cases over one connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_argument_survives_sshd() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let t = crate::support::connect(Sshd::shared()).await;
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: 96,
        ..Config::default()
    });
    let result = tokio::task::block_in_place(|| {
        runner.run(&prop::collection::vec(hostile(), 0..6), |args| {
            let out = handle
                .block_on(t.output(&echo_args(&args)))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(
                out.status.success(),
                "{:?}",
                String::from_utf8_lossy(&out.stderr)
            );
            prop_assert_eq!(out.stdout, nul_joined(&args));
            Ok(())
        })
    });
    t.close().await.unwrap();
    if let Err(e) = result {
        panic!("{e}");
    }
}
