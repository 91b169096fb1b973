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
//! this on the engine before a deploy ([`inspect_command`]): the Odoo service's
//! container must have a bind mount whose source is `data_dir`; a named volume, or no
//! mount of it, is refused (a snapshot of a volume odd cannot reach, or of a folder the
//! container does not use, would not be a backup).
//!
//! The same inspection gives the update's one-off container without the compose client
//! ([`Inspection::one_off`]): the service's container reproduced as `docker run` options
//! with the release's image, when compose's config hash of the service still matches the
//! container's; else `compose run`.

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
    #[serde(rename = "RW", default = "read_write")]
    rw: bool,
}

fn read_write() -> bool {
    true
}

/// Where the filestore is, judged from the mounts of each of the service's containers.
fn judge<'a>(
    containers: impl Iterator<Item = &'a [Mount]>,
    data_dir: &Path,
) -> Result<Option<PathBuf>, String> {
    let mut seen = false;
    for mounts in containers {
        seen = true;
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

/// Prints, for the service's containers, what odd needs to know of them: the service's
/// config hash as compose computes it now with odd's override `image_file` (`hash
/// <hash>`, when compose can: `config --hash`), then for each container `container
/// <docker inspect JSON>` and `image <its image's Config JSON>`. Nothing about containers
/// when the service has none yet (a first install).
pub fn inspect_command(
    compose: &RemoteCommand,
    image_file: Option<&Path>,
    service: &str,
) -> RemoteCommand {
    let mut cmd = RemoteCommand::new("sh")
        .arg("-c")
        .arg(
            "svc=$1; over=$2; shift 2; \
             if [ -n \"$over\" ] && h=$(\"$@\" -f \"$over\" config --hash \"$svc\" 2>/dev/null); then \
             printf 'hash %s\\n' \"${h##* }\"; fi; \
             for id in $(\"$@\" ps -q -- \"$svc\"); do \
             printf 'container %s\\n' \"$(docker container inspect --format '{{json .}}' -- \"$id\")\"; \
             printf 'image %s\\n' \"$(docker image inspect --format '{{json .Config}}' -- \
             \"$(docker container inspect --format '{{.Image}}' -- \"$id\")\")\"; done",
        )
        .arg("sh")
        .arg(service)
        .arg(image_file.map(Path::as_os_str).unwrap_or_default())
        .arg(compose.program());
    cmd = cmd.args(compose.get_args());
    cmd
}

/// What [`inspect_command`] printed.
#[derive(Debug, Default)]
pub struct Inspection {
    /// The service's config hash as compose computes it now (files, env files, the
    /// current image).
    config_hash: Option<String>,
    containers: Vec<(Container, Option<ImageConfig>)>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Container {
    #[serde(default)]
    config: ContainerConfig,
    #[serde(default)]
    host_config: HostConfig,
    #[serde(default)]
    mounts: Vec<Mount>,
    #[serde(default)]
    network_settings: NetworkSettings,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
struct ContainerConfig {
    #[serde(default)]
    user: String,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: String,
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<std::collections::BTreeMap<String, String>>,
}

/// An image's `Config`: the same fields as a container's.
type ImageConfig = ContainerConfig;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HostConfig {
    #[serde(default)]
    network_mode: String,
    #[serde(default)]
    extra_hosts: Option<Vec<String>>,
    #[serde(default)]
    dns: Option<Vec<String>>,
    #[serde(default)]
    dns_search: Option<Vec<String>>,
    #[serde(default)]
    dns_options: Option<Vec<String>>,
    #[serde(default)]
    cap_add: Option<Vec<String>>,
    #[serde(default)]
    cap_drop: Option<Vec<String>>,
    #[serde(default)]
    security_opt: Option<Vec<String>>,
    #[serde(default)]
    group_add: Option<Vec<String>>,
    #[serde(default)]
    privileged: bool,
    #[serde(default)]
    init: Option<bool>,
    #[serde(default)]
    memory: i64,
    #[serde(default)]
    nano_cpus: i64,
    #[serde(default)]
    shm_size: i64,
    #[serde(default)]
    tmpfs: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    devices: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    ulimits: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NetworkSettings {
    #[serde(default)]
    networks: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

impl Inspection {
    /// Reads [`inspect_command`]'s output.
    pub fn parse(out: &[u8]) -> Result<Self, String> {
        let text = String::from_utf8_lossy(out);
        let mut found = Self::default();
        let bad =
            |e: &dyn std::fmt::Display| format!("docker inspect printed what odd cannot read: {e}");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
            match kind {
                "hash" => {
                    found.config_hash = Some(rest.trim().to_owned()).filter(|h| !h.is_empty());
                }
                "container" => found
                    .containers
                    .push((serde_json::from_str(rest).map_err(|e| bad(&e))?, None)),
                "image" => {
                    let config = serde_json::from_str(rest).ok();
                    if let Some(last) = found.containers.last_mut() {
                        last.1 = config;
                    }
                }
                _ => return Err(bad(&format!("unexpected line {line:?}"))),
            }
        }
        Ok(found)
    }

    /// Where the filestore is: `Ok` with the container path when `data_dir` is
    /// bind-mounted (`None` when the service has no container yet), `Err` saying why
    /// not.
    pub fn judge_mounts(&self, data_dir: &Path) -> Result<Option<PathBuf>, String> {
        judge(
            self.containers.iter().map(|(c, _)| c.mounts.as_slice()),
            data_dir,
        )
    }

    /// The one-off update container as plain `docker run` options, reproducing the
    /// service's container (created by compose from the operator's file) with another
    /// image: `Err` saying why compose must run it instead (no container yet, the compose
    /// configuration changed since it was created, a setting odd does not reproduce).
    pub fn one_off(&self) -> Result<OneOff, String> {
        let Some((c, image)) = self.containers.first() else {
            return Err("the service has no container yet".to_owned());
        };
        let Some(image) = image else {
            return Err("its image could not be inspected".to_owned());
        };
        // The container is what compose made of the operator's files as they are now
        // (compose file, env files, odd's current override) only when its config hash
        // (compose's label) is the one compose computes now.
        let label = c
            .config
            .labels
            .as_ref()
            .and_then(|l| l.get("com.docker.compose.config-hash"));
        if self.config_hash.is_none() || label != self.config_hash.as_ref() {
            return Err(
                "the compose configuration changed since its container was created".to_owned(),
            );
        }
        OneOff::reproduce(c, image)
    }
}

/// `docker run` options that run a container as the service's, with another image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOff {
    /// The options, before the image.
    pub options: Vec<String>,
    /// Words between the image and the command: the service's own entrypoint beyond its
    /// first word (`--entrypoint` takes one).
    pub command_prefix: Vec<String>,
}

impl OneOff {
    fn reproduce(c: &Container, image: &ImageConfig) -> Result<Self, String> {
        let mut o: Vec<String> = Vec::new();
        let mut opt = |flag: &str, value: String| {
            o.push(flag.to_owned());
            o.push(value);
        };
        // What the container has from its image is left to the new image; what the
        // compose file set is passed on.
        let image_env = image.env.clone().unwrap_or_default();
        for e in c.config.env.iter().flatten() {
            if !image_env.contains(e) {
                opt("--env", e.clone());
            }
        }
        if c.config.user != image.user {
            opt("--user", c.config.user.clone());
        }
        if c.config.working_dir != image.working_dir {
            opt("--workdir", c.config.working_dir.clone());
        }
        let mut command_prefix = Vec::new();
        if c.config.entrypoint != image.entrypoint {
            match c.config.entrypoint.as_deref() {
                Some([first, rest @ ..]) => {
                    opt("--entrypoint", first.clone());
                    command_prefix = rest.to_vec();
                }
                _ => opt("--entrypoint", String::new()),
            }
        }
        for m in &c.mounts {
            let mut spec = match m.kind.as_str() {
                "bind" => vec![
                    "type=bind".to_owned(),
                    format!("source={}", m.source.display()),
                ],
                "volume" => match &m.name {
                    // An anonymous volume (the image's VOLUME): a one-off gets its own.
                    Some(n) if n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()) => {
                        continue;
                    }
                    Some(n) => vec!["type=volume".to_owned(), format!("source={n}")],
                    None => continue,
                },
                "tmpfs" => vec!["type=tmpfs".to_owned()],
                other => return Err(format!("it has a mount of type {other}")),
            };
            spec.push(format!("destination={}", m.destination.display()));
            if !m.rw {
                spec.push("readonly".to_owned());
            }
            opt("--mount", csv(&spec));
        }
        let h = &c.host_config;
        let networks: Vec<&String> = c
            .network_settings
            .networks
            .iter()
            .flatten()
            .map(|(k, _)| k)
            .collect();
        let mode = h.network_mode.as_str();
        if matches!(mode, "host" | "none") || mode.starts_with("container:") {
            opt("--network", mode.to_owned());
        } else {
            match networks.as_slice() {
                [] => {}
                [one] => opt("--network", (*one).clone()),
                _ => return Err("it is on several networks".to_owned()),
            }
        }
        for (flag, values) in [
            ("--add-host", &h.extra_hosts),
            ("--dns", &h.dns),
            ("--dns-search", &h.dns_search),
            ("--dns-option", &h.dns_options),
            ("--cap-add", &h.cap_add),
            ("--cap-drop", &h.cap_drop),
            ("--security-opt", &h.security_opt),
            ("--group-add", &h.group_add),
        ] {
            for v in values.iter().flatten() {
                opt(flag, v.clone());
            }
        }
        for (path, options) in h.tmpfs.iter().flatten() {
            opt(
                "--tmpfs",
                if options.is_empty() {
                    path.clone()
                } else {
                    format!("{path}:{options}")
                },
            );
        }
        if h.memory > 0 {
            opt("--memory", format!("{}b", h.memory));
        }
        if h.nano_cpus > 0 {
            opt("--cpus", format!("{}", h.nano_cpus as f64 / 1e9));
        }
        // Docker's default is 64 MiB.
        if h.shm_size > 0 && h.shm_size != 64 * 1024 * 1024 {
            opt("--shm-size", format!("{}b", h.shm_size));
        }
        if h.devices.iter().flatten().next().is_some() {
            return Err("it has devices".to_owned());
        }
        if h.ulimits.iter().flatten().next().is_some() {
            return Err("it has ulimits".to_owned());
        }
        if h.privileged {
            o.push("--privileged".to_owned());
        }
        if h.init == Some(true) {
            o.push("--init".to_owned());
        }
        Ok(Self {
            options: o,
            command_prefix,
        })
    }
}

/// A `--mount` value: fields joined by commas, each quoted as CSV when it needs it (the
/// engine reads the value as one CSV record).
fn csv(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
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
        let inspect = inspect_command(
            &compose,
            Some(Path::new("/srv/odd/current/compose.image.yaml")),
            "odoo",
        );
        assert_eq!(
            &argv(&inspect)[3..],
            [
                "sh",
                "odoo",
                "/srv/odd/current/compose.image.yaml",
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

    /// [`inspect_command`]'s output for one container with `mounts`.
    fn inspected(mounts: &str) -> Inspection {
        let out = format!("container {{\"Mounts\":{mounts}}}\nimage {{}}\n");
        Inspection::parse(out.as_bytes()).expect("parsed")
    }

    #[test]
    fn the_filestore_must_be_a_bind_mount_of_data_dir() {
        let data = Path::new("/srv/odoo/data");
        let bind = r#"[{"Type":"bind","Source":"/srv/odoo/data","Destination":"/var/lib/odoo","Mode":"","RW":true}]"#;
        assert_eq!(
            inspected(bind).judge_mounts(data),
            Ok(Some(PathBuf::from("/var/lib/odoo")))
        );
        let volume = r#"[{"Type":"volume","Name":"acme_odoo-data","Source":"/var/lib/docker/volumes/acme_odoo-data/_data","Destination":"/var/lib/odoo"}]"#;
        let err = inspected(volume)
            .judge_mounts(data)
            .expect_err("a volume is refused");
        assert!(err.contains("named volume acme_odoo-data"), "{err}");
        let other = r#"[{"Type":"bind","Source":"/elsewhere","Destination":"/var/lib/odoo"}]"#;
        assert!(inspected(other).judge_mounts(data).is_err());
        let none = Inspection::parse(b"hash 0a1b\n").expect("parsed");
        assert_eq!(none.judge_mounts(data), Ok(None));
        assert!(Inspection::parse(b"container not json\n").is_err());
    }

    /// A container as compose v1 creates it from the demo's file, and its image.
    const CONTAINER: &str = r#"{"Image":"sha256:ab","Config":{"User":"1000:1000","Env":["ACME=1","PATH=/usr/bin","LANG=C.UTF-8"],"WorkingDir":"/opt/odoo","Entrypoint":null,"Labels":{"com.docker.compose.config-hash":"8a23"}},"HostConfig":{"NetworkMode":"host","ExtraHosts":["db:127.0.0.1"],"Dns":[],"DnsSearch":null,"CapAdd":null,"Privileged":false,"Memory":0,"NanoCpus":0,"ShmSize":67108864,"Devices":[],"Ulimits":null},"Mounts":[{"Type":"bind","Source":"/srv/odoo/data","Destination":"/var/lib/odoo","RW":true},{"Type":"bind","Source":"/srv/a,b \"c\"/odoo.conf","Destination":"/etc/odoo/odoo.conf","RW":false},{"Type":"volume","Name":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","Destination":"/tmp/anon","RW":true},{"Type":"volume","Name":"acme_sessions","Destination":"/var/lib/sessions","RW":true}],"NetworkSettings":{"Networks":{"host":{}}}}"#;
    const IMAGE: &str = r#"{"User":"","Env":["PATH=/usr/bin","LANG=C.UTF-8"],"WorkingDir":"/opt/odoo","Entrypoint":null,"Cmd":["odoo"]}"#;

    #[test]
    fn the_one_off_reproduces_what_compose_set_and_leaves_the_rest_to_the_new_image() {
        let out = format!("hash 8a23\ncontainer {CONTAINER}\nimage {IMAGE}\n");
        let one_off = Inspection::parse(out.as_bytes())
            .expect("parsed")
            .one_off()
            .expect("reproduced");
        assert_eq!(
            one_off.options,
            [
                "--env",
                "ACME=1",
                "--user",
                "1000:1000",
                "--mount",
                "type=bind,source=/srv/odoo/data,destination=/var/lib/odoo",
                "--mount",
                "type=bind,\"source=/srv/a,b \"\"c\"\"/odoo.conf\",destination=/etc/odoo/odoo.conf,readonly",
                "--mount",
                "type=volume,source=acme_sessions,destination=/var/lib/sessions",
                "--network",
                "host",
                "--add-host",
                "db:127.0.0.1"
            ]
        );
        assert!(one_off.command_prefix.is_empty());

        // Its own entrypoint: the first word as --entrypoint, the rest before the command.
        let custom = CONTAINER.replace(
            r#""Entrypoint":null"#,
            r#""Entrypoint":["/entry.sh","--quiet"]"#,
        );
        let out = format!("hash 8a23\ncontainer {custom}\nimage {IMAGE}\n");
        let one_off = Inspection::parse(out.as_bytes())
            .expect("parsed")
            .one_off()
            .expect("reproduced");
        assert_eq!(one_off.command_prefix, ["--quiet"]);
        assert!(
            one_off
                .options
                .windows(2)
                .any(|w| w == ["--entrypoint", "/entry.sh"]),
            "{:?}",
            one_off.options
        );
    }

    #[test]
    fn compose_runs_the_one_off_when_its_container_cannot_be_reproduced() {
        let why = |out: String| {
            Inspection::parse(out.as_bytes())
                .expect("parsed")
                .one_off()
                .expect_err("compose runs it")
        };
        assert!(why("hash 8a23\n".to_owned()).contains("no container yet"));
        // An edited compose file, env file or override since the container was made:
        // compose's hash differs from the container's label, and compose reads them.
        for hash in ["hash 9999\n", ""] {
            assert!(
                why(format!("{hash}container {CONTAINER}\nimage {IMAGE}\n"))
                    .contains("compose configuration changed"),
                "{hash:?}"
            );
        }
        let two = CONTAINER
            .replace(r#""NetworkMode":"host""#, r#""NetworkMode":"acme_default""#)
            .replace(r#"{"host":{}}"#, r#"{"acme_default":{},"acme_db":{}}"#);
        assert!(
            why(format!("hash 8a23\ncontainer {two}\nimage {IMAGE}\n"))
                .contains("several networks")
        );
        let one = two.replace(r#","acme_db":{}"#, "");
        let options =
            Inspection::parse(format!("hash 8a23\ncontainer {one}\nimage {IMAGE}\n").as_bytes())
                .expect("parsed")
                .one_off()
                .expect("one network")
                .options;
        assert!(
            options
                .windows(2)
                .any(|w| w == ["--network", "acme_default"])
        );
        let devices = CONTAINER.replace(
            r#""Devices":[]"#,
            r#""Devices":[{"PathOnHost":"/dev/fuse"}]"#,
        );
        assert!(
            why(format!("hash 8a23\ncontainer {devices}\nimage {IMAGE}\n")).contains("devices")
        );
        assert!(why(format!("hash 8a23\ncontainer {CONTAINER}\n")).contains("image could not"));
    }
}
