//! Odoo as a docker compose service, the image named by commit.
//!
//! The operator's compose file is never edited. odd writes, into each release directory
//! on the host, a small override file ([`IMAGE_FILE`]) that sets `image:` of the Odoo
//! service and of the services that stop with it (cron, workers) to
//! `<[image] repository>:sha-<12>`. The update runs with the *release's* override (a
//! one-off container of the new image, same network and volumes), and once it is
//! verified the `current` symlink is switched to the release, so `up -d` — which always
//! reads `<deploy_dir>/current/compose.image.yaml` — starts the new tag. A rollback
//! switches `current` back: the previous tag. Commands are `CLI -f <operator's file>
//! [-f <override>] …`, where CLI is `docker compose` (v2) or `docker-compose` (v1),
//! whichever the host has ([`detect_command`]) unless `compose_command` names one.
//!
//! The filestore of a compose environment is `odoo.data_dir` taken as a path **on the
//! host**: the operator bind-mounts it as Odoo's data_dir in the container. odd checks
//! this on the engine before a deploy ([`mounts_command`]): the Odoo service's
//! container must have a bind mount whose source is `data_dir`; a named volume, or no
//! mount of it, is refused (a snapshot of a volume odd cannot reach, or of a folder the
//! container does not use, would not be a backup).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::command::RemoteCommand;

/// The override file odd writes in every release directory.
pub const IMAGE_FILE: &str = "compose.image.yaml";

/// Names a compose service may have, as odd accepts them in odd.toml.
pub fn is_service_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Prints `v2` when `docker compose` works, else `v1` when `docker-compose` does, else
/// `none`.
pub fn detect_command() -> RemoteCommand {
    RemoteCommand::new("sh").arg("-c").arg(
        "if docker compose version >/dev/null 2>&1; then echo v2; \
         elif docker-compose version >/dev/null 2>&1; then echo v1; else echo none; fi",
    )
}

/// The compose argv prefix [`detect_command`]'s output names.
pub fn parse_detected(out: &[u8]) -> Option<Vec<String>> {
    match String::from_utf8_lossy(out).trim() {
        "v2" => Some(vec!["docker".to_owned(), "compose".to_owned()]),
        "v1" => Some(vec!["docker-compose".to_owned()]),
        _ => None,
    }
}

/// The override's text: `image:` of each service. Values are written as JSON strings,
/// which YAML reads as double-quoted scalars.
pub fn override_yaml<S: AsRef<str>>(services: &[S], image: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    let mut out =
        String::from("# Written by odd for this release: the image of its commit.\nservices:\n");
    for s in services {
        out.push_str("  ");
        out.push_str(&quote(s.as_ref()));
        out.push_str(":\n    image: ");
        out.push_str(&quote(image));
        out.push('\n');
    }
    out
}

/// Writes `bytes` to `path` on the host (through stdin: no shell text holds them).
pub fn write_file_command(path: &Path, bytes: impl Into<Vec<u8>>) -> RemoteCommand {
    RemoteCommand::new("sh")
        .arg("-c")
        .arg("cat > \"$1\"")
        .arg("sh")
        .arg(path)
        .stdin_bytes(bytes)
}

/// Finds the image on the host's engine, else pulls it from its registry.
pub fn ensure_image_command(reference: &str) -> RemoteCommand {
    RemoteCommand::new("sh")
        .arg("-c")
        .arg("docker image inspect -- \"$1\" >/dev/null 2>&1 || docker pull -q -- \"$1\"")
        .arg("sh")
        .arg(reference)
}

/// Prints the mounts of the service's containers (`docker inspect` JSON, one array per
/// container), empty when it has none yet.
pub fn mounts_command(compose: &RemoteCommand, service: &str) -> RemoteCommand {
    let mut cmd = RemoteCommand::new("sh")
        .arg("-c")
        .arg(
            "svc=$1; shift; for id in $(\"$@\" ps -q -- \"$svc\"); do \
             docker inspect --format '{{json .Mounts}}' -- \"$id\"; done",
        )
        .arg("sh")
        .arg(service)
        .arg(compose.program());
    cmd = cmd.args(compose.get_args());
    cmd
}

/// Prints the logs of the service's containers since `since` (Unix seconds), both
/// streams: `docker logs` on each container compose names (v1's `logs` has no `--since`).
pub fn logs_command(compose: &RemoteCommand, service: &str, since: i64) -> RemoteCommand {
    let mut cmd = RemoteCommand::new("sh")
        .arg("-c")
        .arg(
            "since=$1; svc=$2; shift 2; for id in $(\"$@\" ps -q -- \"$svc\"); do \
             docker logs --since \"$since\" -- \"$id\" 2>&1; done",
        )
        .arg("sh")
        .arg(since.to_string())
        .arg(service)
        .arg(compose.program());
    cmd = cmd.args(compose.get_args());
    cmd
}

/// The image of `commit` for a compose target with an `[image]`: its reference, and the
/// upload's commands that find (or pull) it on the host and write release `release`'s
/// override naming it. `None` for other targets.
pub fn release_image(
    t: &crate::target::Target,
    commit: &str,
    release: &str,
) -> Option<(String, Vec<RemoteCommand>)> {
    let crate::service::Service::Compose { service, with, .. } = &t.service else {
        return None;
    };
    let repository = t.image.as_ref()?;
    let reference = format!("{repository}:{}", crate::image::commit_tag(commit));
    let mut services = vec![service.clone()];
    services.extend(with.iter().cloned());
    let file = t.layout.release(release).join(IMAGE_FILE);
    let commands = vec![
        ensure_image_command(&reference),
        write_file_command(&file, override_yaml(&services, &reference)),
    ];
    Some((reference, commands))
}

/// The plan's `image` gate for a compose target: the image of `commit` found on the host
/// (pulled from its registry when missing: no container is touched), named by tag, id
/// and registry digest. `None` for other targets.
pub async fn image_gate(
    t: &crate::target::Target,
    transport: &dyn crate::transport::Transport,
    commit: &str,
) -> Option<crate::plan::Gate> {
    let (reference, _) = release_image(t, commit, "-")?;
    let repository = t.image.clone().unwrap_or_default();
    let ensure = transport.output(&ensure_image_command(&reference)).await;
    let inspected = match transport
        .output(&crate::image::inspect_command(&reference))
        .await
    {
        Ok(out) if out.status.success() => crate::image::Inspected::parse(&out.stdout),
        _ => None,
    };
    let (passed, detail) = match inspected {
        Some(i) => {
            let digest = i.digest_in(&repository).map_or_else(
                || "no registry digest (built on the host, never pushed)".to_owned(),
                |d| format!("digest {d}"),
            );
            (true, format!("{reference}, {digest}, id {}", i.id))
        }
        None => {
            let why = match ensure {
                Ok(out) => crate::transport::tail_of(&out.stderr),
                Err(e) => e.to_string(),
            };
            (
                false,
                format!(
                    "{reference} is not on the host and cannot be pulled ({why}): build and push it with `odd image build --push`"
                ),
            )
        }
    };
    Some(crate::plan::Gate {
        name: "image".to_owned(),
        passed,
        detail,
        overridden: None,
    })
}

#[derive(Debug, Deserialize)]
struct Mount {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Source", default)]
    source: PathBuf,
    #[serde(rename = "Destination", default)]
    destination: PathBuf,
    #[serde(rename = "Name", default)]
    name: Option<String>,
}

/// Where the filestore is, judged from [`mounts_command`]'s output: `Ok` with the
/// container path when `data_dir` is bind-mounted, `Err` saying why not.
pub fn judge_mounts(out: &[u8], data_dir: &Path) -> Result<Option<PathBuf>, String> {
    let text = String::from_utf8_lossy(out);
    let mut seen = false;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        seen = true;
        let mounts: Vec<Mount> = serde_json::from_str(line)
            .map_err(|e| format!("docker inspect printed what odd cannot read: {e}"))?;
        if let Some(m) = mounts
            .iter()
            .find(|m| m.kind == "bind" && m.source == data_dir)
        {
            return Ok(Some(m.destination.clone()));
        }
        if let Some(v) = mounts.iter().find(|m| m.kind == "volume") {
            return Err(format!(
                "the Odoo service mounts named volume {} at {} but does not bind-mount data_dir {}: odd snapshots the filestore on the host, so data_dir must be a bind mount (e.g. `- {}:{}`)",
                v.name.as_deref().unwrap_or("?"),
                v.destination.display(),
                data_dir.display(),
                data_dir.display(),
                v.destination.display(),
            ));
        }
    }
    if seen {
        Err(format!(
            "the Odoo service's container does not bind-mount data_dir {}: the filestore odd would snapshot is not the one Odoo uses",
            data_dir.display()
        ))
    } else {
        // No container yet (a first install): nothing to check against.
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::argv;

    #[test]
    fn the_override_names_each_service_and_quotes_hostile_values() {
        let text = override_yaml(
            &["odoo", "odoo-cron"],
            "127.0.0.1:5000/acme/odoo:sha-0123456789ab",
        );
        assert_eq!(
            text,
            "# Written by odd for this release: the image of its commit.\nservices:\n  \"odoo\":\n    image: \"127.0.0.1:5000/acme/odoo:sha-0123456789ab\"\n  \"odoo-cron\":\n    image: \"127.0.0.1:5000/acme/odoo:sha-0123456789ab\"\n"
        );
        assert!(is_service_name("odoo-cron_1.x"));
        for bad in ["", "-x", "a b", "a;b", "$(x)", ".hidden", "a\nb"] {
            assert!(!is_service_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn detection_is_parsed() {
        assert_eq!(
            parse_detected(b"v2\n"),
            Some(vec!["docker".to_owned(), "compose".to_owned()])
        );
        assert_eq!(
            parse_detected(b"v1\n"),
            Some(vec!["docker-compose".to_owned()])
        );
        assert_eq!(parse_detected(b"none\n"), None);
    }

    #[test]
    fn commands_keep_values_as_positional_parameters() {
        let compose = RemoteCommand::new("docker-compose")
            .arg("-f")
            .arg("/srv/a b/compose.yaml");
        let logs = logs_command(&compose, "odoo", 1_700_000_000);
        let words = argv(&logs);
        assert_eq!(&words[..2], ["sh", "-c"]);
        assert_eq!(
            &words[3..],
            [
                "sh",
                "1700000000",
                "odoo",
                "docker-compose",
                "-f",
                "/srv/a b/compose.yaml"
            ]
        );
        let mounts = mounts_command(&compose, "odoo");
        assert_eq!(
            &argv(&mounts)[3..],
            [
                "sh",
                "odoo",
                "docker-compose",
                "-f",
                "/srv/a b/compose.yaml"
            ]
        );
        let ensure = ensure_image_command("r/o:sha-1");
        assert_eq!(&argv(&ensure)[3..], ["sh", "r/o:sha-1"]);
        let write = write_file_command(Path::new("/d/$(x)/compose.image.yaml"), "x");
        assert_eq!(&argv(&write)[3..], ["sh", "/d/$(x)/compose.image.yaml"]);
    }

    #[test]
    fn the_filestore_must_be_a_bind_mount_of_data_dir() {
        let data = Path::new("/srv/odoo/data");
        let bind = br#"[{"Type":"bind","Source":"/srv/odoo/data","Destination":"/var/lib/odoo","Mode":"","RW":true}]"#;
        assert_eq!(
            judge_mounts(bind, data),
            Ok(Some(PathBuf::from("/var/lib/odoo")))
        );
        let volume = br#"[{"Type":"volume","Name":"acme_odoo-data","Source":"/var/lib/docker/volumes/acme_odoo-data/_data","Destination":"/var/lib/odoo"}]"#;
        let err = judge_mounts(volume, data).expect_err("a volume is refused");
        assert!(err.contains("named volume acme_odoo-data"), "{err}");
        let other = br#"[{"Type":"bind","Source":"/elsewhere","Destination":"/var/lib/odoo"}]"#;
        assert!(judge_mounts(other, data).is_err());
        assert_eq!(judge_mounts(b"", data), Ok(None));
        assert!(judge_mounts(b"not json\n", data).is_err());
    }
}
