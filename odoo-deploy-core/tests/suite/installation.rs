//! The host installation is read in a fixed number of commands, whatever the number of
//! its addons: one for every folder and manifest, one for the checksums.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use odoo_deploy_core::command::RemoteCommand;
use odoo_deploy_core::config::LoadedConfig;
use odoo_deploy_core::installation::Origin;
use odoo_deploy_core::ops;
use odoo_deploy_core::state::DbState;
use odoo_deploy_core::target::Target;
use odoo_deploy_core::transport::{LocalTransport, OutputSink, Transport, TransportError};
use tokio::io::{AsyncRead, AsyncWrite};

/// A local transport that counts the commands it runs.
#[derive(Debug, Default)]
struct Counting {
    inner: LocalTransport,
    commands: AtomicUsize,
}

#[async_trait]
impl Transport for Counting {
    fn host(&self) -> &str {
        self.inner.host()
    }

    async fn run(
        &self,
        cmd: &RemoteCommand,
        sink: &dyn OutputSink,
    ) -> Result<ExitStatus, TransportError> {
        self.commands.fetch_add(1, Ordering::SeqCst);
        self.inner.run(cmd, sink).await
    }

    async fn upload(
        &self,
        reader: &mut (dyn AsyncRead + Send + Unpin),
        remote_path: &Path,
    ) -> Result<u64, TransportError> {
        self.commands.fetch_add(1, Ordering::SeqCst);
        self.inner.upload(reader, remote_path).await
    }

    async fn download(
        &self,
        remote_path: &Path,
        writer: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<u64, TransportError> {
        self.commands.fetch_add(1, Ordering::SeqCst);
        self.inner.download(remote_path, writer).await
    }
}

fn target(odoo_bin: &Path, shared: &Path, data_dir: &Path) -> Target {
    let toml = format!(
        r#"[project]
addons_paths = ["custom_addons"]
series = "18.0"

[environments.host]
odoo = {{ command = [{bin:?}], data_dir = {data:?}, deploy_dir = {deploy:?} }}
service = {{ strategy = "command", start = ["true"], stop = ["true"], status = ["true"] }}
database = {{ name = "unused" }}
http = {{ base_url = "http://127.0.0.1:1" }}
installation = {{ addons_paths = [{shared:?}] }}
"#,
        bin = odoo_bin.display().to_string(),
        data = data_dir.display().to_string(),
        deploy = data_dir.join("odd").display().to_string(),
        shared = shared.display().to_string(),
    );
    let loaded = LoadedConfig::parse(Path::new("odd.toml"), toml).expect("valid config");
    let env = loaded.environment("host").expect("env");
    Target::resolve(&loaded, "host", env).expect("no secrets")
}

fn shared_folder(dir: &Path, count: usize) -> PathBuf {
    let shared = dir.join(format!("shared-{count}"));
    for i in 0..count {
        let addon = shared.join(format!("oca_tool_{i:04}"));
        std::fs::create_dir_all(&addon).expect("mkdir");
        let depends = if i == 0 {
            "'base'".to_owned()
        } else {
            format!("'mail', 'oca_tool_{:04}'", i - 1)
        };
        std::fs::write(
            addon.join("__manifest__.py"),
            format!("{{\n    'name': 'Tool {i}',\n    'version': '18.0.1.0.{i}',\n    'depends': [{depends}],\n}}\n"),
        )
        .expect("manifest");
        std::fs::write(addon.join("__init__.py"), "").expect("init");
    }
    shared
}

#[tokio::test]
async fn every_host_manifest_is_read_in_one_command_whatever_their_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let odoo_bin =
        odoo_deploy_fixtures::install_standin(&dir.path().join("odoo")).expect("install");
    let repo = odoo_deploy_fixtures::sample_project();
    for count in [3, 400] {
        let shared = shared_folder(dir.path(), count);
        let mut target = target(&odoo_bin, &shared, &dir.path().join("data"));
        let transport = Counting::default();
        target.prepare(&transport).await.expect("prepare");
        assert_eq!(
            transport.commands.load(Ordering::SeqCst),
            0,
            "no Odoo config file to read"
        );
        let code = ops::read_code_on(&repo, &target, &transport, &DbState::default())
            .await
            .expect("code");
        assert_eq!(
            transport.commands.load(Ordering::SeqCst),
            2,
            "one listing and one checksum command for {count} shared addons"
        );
        assert_eq!(code.host.get("base"), Some(&Origin::Core));
        let last = format!("oca_tool_{:04}", count - 1);
        assert_eq!(code.host.get(&last), Some(&Origin::Configured));
        assert!(!code.host.contains_key("acme_sale"), "the repository's own");
        assert!(
            code.graph.missing().is_empty(),
            "{:?}",
            code.graph.missing()
        );
        assert_eq!(
            code.scan.addons.len(),
            count + 14 + 10,
            "core stubs, shared addons and the sample's custom addons"
        );
        assert_eq!(code.host_checksums.len(), count + 14);
        // The update runs with the release's folders and the host's, in Odoo's order.
        let odoo = target.odoo_for_release("r1");
        assert_eq!(
            odoo.addons_path,
            [target.layout.release("r1").join("custom_addons"), shared]
        );
    }
}
