//! Stopping and starting Odoo on a host: a systemd unit, a compose service, or the
//! operator's own commands. Every operation is a [`RemoteCommand`] built here and run
//! by a transport elsewhere.

use std::path::{Path, PathBuf};

use crate::command::RemoteCommand;
use crate::config::{ServiceConfig, Strategy};

/// How Odoo is controlled on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// `systemctl` on a unit.
    Systemd {
        /// The unit's name.
        unit: String,
    },
    /// `docker compose` on a service; the update runs as a one-off container of it
    /// (see [`crate::compose`]).
    Compose {
        /// The compose service that runs Odoo.
        service: String,
        /// The compose file (`compose_file`, passed as `-f`); compose's own lookup when absent.
        file: Option<PathBuf>,
        /// The compose argv prefix: `docker compose` (v2) or `docker-compose` (v1).
        cli: Vec<String>,
        /// Services stopped and started with Odoo's (cron, workers), same image.
        with: Vec<String>,
        /// odd's override naming the image (`<deploy_dir>/current/compose.image.yaml`),
        /// when the project has an `[image]`.
        image_file: Option<PathBuf>,
        /// The one-off update container's name (`odd-update-<release>`), set by
        /// [`Service::for_release`]: what is removed when its run is stopped.
        run_name: Option<String>,
        /// The service's container reproduced as `docker run` options (read from the
        /// engine by [`crate::target::Target::prepare`]): the update then runs without
        /// the compose client. `None`: `compose run`.
        one_off: Option<crate::compose::OneOff>,
        /// The image the update runs (the release's), set by [`Service::with_run_image`].
        run_image: Option<String>,
    },
    /// The operator's commands.
    Command {
        /// The argv that starts Odoo.
        start: Vec<String>,
        /// The argv that stops Odoo.
        stop: Vec<String>,
        /// The argv that tells whether Odoo runs (exit status 0 when it does).
        status: Vec<String>,
    },
}

impl Service {
    /// The service a validated config describes. (Validation guarantees the fields a
    /// strategy needs; missing ones fall back to harmless defaults.)
    pub fn from_config(config: &ServiceConfig) -> Self {
        match config.strategy.get_ref() {
            Strategy::Systemd => Self::Systemd {
                unit: config.unit.clone().unwrap_or_else(|| "odoo".to_owned()),
            },
            Strategy::Compose => Self::Compose {
                service: config
                    .compose_service
                    .clone()
                    .unwrap_or_else(|| "odoo".to_owned()),
                file: config.compose_file.clone(),
                cli: config
                    .compose_command
                    .clone()
                    .filter(|c| !c.is_empty())
                    .unwrap_or_else(|| vec!["docker".to_owned(), "compose".to_owned()]),
                with: config.compose_services_with.clone().unwrap_or_default(),
                image_file: None,
                run_name: None,
                one_off: None,
                run_image: None,
            },
            Strategy::Command => Self::Command {
                start: config.start.clone().unwrap_or_default(),
                stop: config.stop.clone().unwrap_or_default(),
                status: config.status.clone().unwrap_or_default(),
            },
        }
    }

    /// Stops Odoo and returns once it is stopped.
    pub fn stop(&self) -> RemoteCommand {
        match self {
            Self::Systemd { unit } => RemoteCommand::new("systemctl").arg("stop").arg(unit),
            // Stopping needs no image: the operator's file alone (odd's override may not
            // exist yet before a first deploy).
            Self::Compose {
                service,
                file,
                cli,
                with,
                ..
            } => compose(cli, file.as_ref(), None)
                .arg("stop")
                .arg(service)
                .args(with),
            Self::Command { stop, .. } => argv(stop),
        }
    }

    /// Starts Odoo in the background and returns.
    pub fn start(&self) -> RemoteCommand {
        match self {
            Self::Systemd { unit } => RemoteCommand::new("systemctl").arg("start").arg(unit),
            Self::Compose {
                service,
                file,
                cli,
                with,
                image_file,
                ..
            } => compose(cli, file.as_ref(), image_file.as_ref())
                .arg("up")
                .arg("-d")
                .arg(service)
                .args(with),
            Self::Command { start, .. } => argv(start),
        }
    }

    /// The compose argv prefix with the operator's file and odd's override (`None` for
    /// other strategies).
    pub fn compose_base(&self) -> Option<RemoteCommand> {
        match self {
            Self::Compose {
                file,
                cli,
                image_file,
                ..
            } => Some(compose(cli, file.as_ref(), image_file.as_ref())),
            _ => None,
        }
    }

    /// The same service with the override of release directory `release_dir` (the new
    /// image) instead of `current`'s: how the update of that release runs.
    pub fn for_release(&self, release_dir: &Path) -> Self {
        match self {
            Self::Compose {
                image_file: Some(_),
                service,
                file,
                cli,
                with,
                one_off,
                ..
            } => Self::Compose {
                service: service.clone(),
                file: file.clone(),
                cli: cli.clone(),
                with: with.clone(),
                image_file: Some(release_dir.join(crate::compose::IMAGE_FILE)),
                run_name: update_container_name(release_dir),
                one_off: one_off.clone(),
                run_image: None,
            },
            other => other.clone(),
        }
    }

    /// The same service whose update runs image `reference` (the release's): with the
    /// service's container reproduced (`one_off`), as a plain `docker run` of it.
    #[must_use]
    pub fn with_run_image(mut self, reference: Option<String>) -> Self {
        if let Self::Compose { run_image, .. } = &mut self {
            *run_image = reference;
        }
        self
    }

    /// Exits 0 when Odoo runs.
    pub fn status(&self) -> RemoteCommand {
        match self {
            Self::Systemd { unit } => RemoteCommand::new("systemctl")
                .arg("is-active")
                .arg("--quiet")
                .arg(unit),
            // Succeeds only when the service's container runs.
            Self::Compose {
                service, file, cli, ..
            } => compose(cli, file.as_ref(), None)
                .arg("exec")
                .arg("-T")
                .arg(service)
                .arg("true"),
            Self::Command { status, .. } => argv(status),
        }
    }

    /// The update command as it must run for this strategy: as is on the host, or in a
    /// one-off container of the compose service (same image, volumes and network).
    pub fn wrap_update(&self, update: RemoteCommand) -> RemoteCommand {
        match self {
            Self::Compose {
                service,
                file,
                cli,
                image_file,
                run_name,
                one_off,
                run_image,
                ..
            } => {
                let run = match (one_off, run_image) {
                    // The engine's own client, as compose would have created the
                    // container: no compose client to start (v1's alone takes a second).
                    (Some(one_off), Some(image)) => {
                        let mut run = RemoteCommand::new("docker").arg("run").arg("--rm");
                        if let Some(name) = run_name {
                            run = run.arg("--name").arg(name);
                        }
                        run.args(&one_off.options)
                            .arg(image)
                            .args(&one_off.command_prefix)
                            .arg(update.program())
                            .args(update.get_args())
                    }
                    _ => {
                        // -T: no TTY (the update runs detached, with no terminal).
                        let mut run = compose(cli, file.as_ref(), image_file.as_ref())
                            .arg("run")
                            .arg("--rm")
                            .arg("--no-deps")
                            .arg("-T");
                        if let Some(name) = run_name {
                            run = run.arg("--name").arg(name);
                        }
                        run.arg(service)
                            .arg(update.program())
                            .args(update.get_args())
                    }
                };
                let mut cmd = match run_name {
                    // Stopping the run's process group (a rollback after odd died) ends
                    // the compose client; the container would go on: removed with it.
                    Some(name) => RemoteCommand::new("sh")
                        .arg("-c")
                        .arg(
                            "trap 'docker rm -f -- \"$0\" >/dev/null 2>&1; exit 143' TERM INT HUP; \
                             \"$@\" & wait $!",
                        )
                        .arg(name)
                        .arg(run.program())
                        .args(run.get_args()),
                    None => run,
                };
                if let Some(t) = update.get_timeout() {
                    cmd = cmd.timeout(t);
                }
                cmd
            }
            _ => update,
        }
    }
}

/// The name of the one-off update container of release directory `release_dir`:
/// `odd-update-<release>-<8 hex digits of the directory's path>`. A container name is
/// one per engine, and a release id (time to the second, commit) is not: two
/// environments on one engine deploying the same commit in the same second (staging and
/// production, two checkouts) would take each other's name, and a stopped run's
/// `docker rm -f` would end the other's update.
pub fn update_container_name(release_dir: &Path) -> Option<String> {
    use sha2::Digest as _;
    let id = release_dir.file_name()?.to_string_lossy();
    let path = sha2::Sha256::digest(release_dir.as_os_str().as_encoded_bytes());
    Some(format!("odd-update-{id}-{}", &hex::encode(path)[..8]))
}

fn compose(cli: &[String], file: Option<&PathBuf>, image_file: Option<&PathBuf>) -> RemoteCommand {
    let mut cmd = argv(cli);
    if let Some(file) = file {
        cmd = cmd.arg("-f").arg(file);
    }
    if let Some(image_file) = image_file {
        cmd = cmd.arg("-f").arg(image_file);
    }
    cmd
}

/// The operator's argv as a command.
pub(crate) fn argv(words: &[String]) -> RemoteCommand {
    match words.split_first() {
        Some((program, rest)) => RemoteCommand::new(program).args(rest),
        // Validation refuses empty commands; `false` fails loudly if one slips through.
        None => RemoteCommand::new("false"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::argv as argv_of;
    use std::time::Duration;

    #[test]
    fn systemd_commands_are_exact() {
        let s = Service::Systemd {
            unit: "odoo-prod".into(),
        };
        assert_eq!(argv_of(&s.stop()), ["systemctl", "stop", "odoo-prod"]);
        assert_eq!(argv_of(&s.start()), ["systemctl", "start", "odoo-prod"]);
        assert_eq!(
            argv_of(&s.status()),
            ["systemctl", "is-active", "--quiet", "odoo-prod"]
        );
        let update = RemoteCommand::new("odoo-bin").arg("-u").arg("x");
        assert_eq!(s.wrap_update(update.clone()), update);
    }

    #[test]
    fn compose_commands_are_exact_and_the_update_is_a_one_off_container() {
        let s = Service::Compose {
            service: "odoo".into(),
            file: Some("/srv/acme/compose.yaml".into()),
            cli: vec!["docker".into(), "compose".into()],
            with: Vec::new(),
            image_file: None,
            run_name: None,
            one_off: None,
            run_image: None,
        };
        assert_eq!(
            argv_of(&s.stop()),
            [
                "docker",
                "compose",
                "-f",
                "/srv/acme/compose.yaml",
                "stop",
                "odoo"
            ]
        );
        assert_eq!(
            argv_of(&s.start()),
            [
                "docker",
                "compose",
                "-f",
                "/srv/acme/compose.yaml",
                "up",
                "-d",
                "odoo"
            ]
        );
        assert_eq!(
            argv_of(&s.status()),
            [
                "docker",
                "compose",
                "-f",
                "/srv/acme/compose.yaml",
                "exec",
                "-T",
                "odoo",
                "true"
            ]
        );
        let update = RemoteCommand::new("odoo")
            .arg("-d")
            .arg("acme")
            .arg("-u")
            .arg("acme_sale")
            .arg("--stop-after-init")
            .timeout(Duration::from_secs(600));
        let wrapped = s.wrap_update(update);
        assert_eq!(
            argv_of(&wrapped),
            [
                "docker",
                "compose",
                "-f",
                "/srv/acme/compose.yaml",
                "run",
                "--rm",
                "--no-deps",
                "-T",
                "odoo",
                "odoo",
                "-d",
                "acme",
                "-u",
                "acme_sale",
                "--stop-after-init"
            ]
        );
        assert_eq!(wrapped.get_timeout(), Some(Duration::from_secs(600)));
        let no_file = Service::Compose {
            service: "web".into(),
            file: None,
            cli: vec!["docker".into(), "compose".into()],
            with: Vec::new(),
            image_file: None,
            run_name: None,
            one_off: None,
            run_image: None,
        };
        assert_eq!(
            argv_of(&no_file.stop()),
            ["docker", "compose", "stop", "web"]
        );
    }

    #[test]
    fn compose_v1_with_an_image_override_and_services_that_stop_with_odoo() {
        let s = Service::Compose {
            service: "odoo".into(),
            file: Some("/srv/acme/compose.yaml".into()),
            cli: vec!["docker-compose".into()],
            with: vec!["odoo-cron".into()],
            image_file: Some("/srv/odd/current/compose.image.yaml".into()),
            run_name: None,
            one_off: None,
            run_image: None,
        };
        assert_eq!(
            argv_of(&s.stop()),
            [
                "docker-compose",
                "-f",
                "/srv/acme/compose.yaml",
                "stop",
                "odoo",
                "odoo-cron"
            ]
        );
        assert_eq!(
            argv_of(&s.start()),
            [
                "docker-compose",
                "-f",
                "/srv/acme/compose.yaml",
                "-f",
                "/srv/odd/current/compose.image.yaml",
                "up",
                "-d",
                "odoo",
                "odoo-cron"
            ]
        );
        // The update of a release runs with that release's override: the new image.
        let release = s.for_release(Path::new("/srv/odd/releases/20261201-1"));
        let update = release.wrap_update(RemoteCommand::new("odoo").arg("-u").arg("x"));
        let words = argv_of(&update);
        assert_eq!(&words[..2], ["sh", "-c"]);
        assert!(words[2].contains("docker rm -f"), "{words:?}");
        let name =
            update_container_name(Path::new("/srv/odd/releases/20261201-1")).expect("a name");
        assert!(
            name.starts_with("odd-update-20261201-1-")
                && name.len() == "odd-update-20261201-1-".len() + 8,
            "{name}"
        );
        assert_ne!(
            update_container_name(Path::new("/srv/other/releases/20261201-1")),
            Some(name.clone()),
            "another environment's release of the same id"
        );
        assert_eq!(
            &words[3..],
            [
                name.as_str(),
                "docker-compose",
                "-f",
                "/srv/acme/compose.yaml",
                "-f",
                "/srv/odd/releases/20261201-1/compose.image.yaml",
                "run",
                "--rm",
                "--no-deps",
                "-T",
                "--name",
                name.as_str(),
                "odoo",
                "odoo",
                "-u",
                "x"
            ]
        );
    }

    #[test]
    fn with_the_service_container_reproduced_the_update_is_a_plain_docker_run() {
        let s = Service::Compose {
            service: "odoo".into(),
            file: Some("/srv/acme/compose.yaml".into()),
            cli: vec!["docker-compose".into()],
            with: Vec::new(),
            image_file: Some("/srv/odd/current/compose.image.yaml".into()),
            run_name: None,
            one_off: Some(crate::compose::OneOff {
                options: vec!["--network".into(), "host".into()],
                command_prefix: vec!["--quiet".into()],
            }),
            run_image: None,
        };
        let dir = Path::new("/srv/odd/releases/20261201-1");
        let name = update_container_name(dir).expect("a name");
        let update = RemoteCommand::new("odoo").arg("-u").arg("x");
        let run = s
            .for_release(dir)
            .with_run_image(Some("r/acme:sha-0123456789ab".into()))
            .wrap_update(update.clone());
        let words = argv_of(&run);
        assert!(words[2].contains("docker rm -f"), "{words:?}");
        assert_eq!(
            &words[3..],
            [
                name.as_str(),
                "docker",
                "run",
                "--rm",
                "--name",
                name.as_str(),
                "--network",
                "host",
                "r/acme:sha-0123456789ab",
                "--quiet",
                "odoo",
                "-u",
                "x"
            ]
        );
        // Without the release's image known, compose runs it.
        let words = argv_of(&s.for_release(dir).wrap_update(update));
        assert_eq!(words[4], "docker-compose", "{words:?}");
    }

    #[test]
    fn command_strategy_runs_the_operators_argv() {
        let s = Service::Command {
            start: vec![
                "/usr/local/bin/odoo-ctl".into(),
                "start".into(),
                "it's mine".into(),
            ],
            stop: vec!["/usr/local/bin/odoo-ctl".into(), "stop".into()],
            status: vec![],
        };
        assert_eq!(
            argv_of(&s.start()),
            ["/usr/local/bin/odoo-ctl", "start", "it's mine"]
        );
        assert_eq!(argv_of(&s.stop()), ["/usr/local/bin/odoo-ctl", "stop"]);
        assert_eq!(argv_of(&s.status()), ["false"]);
    }
}
