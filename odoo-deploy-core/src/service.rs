//! Stopping and starting Odoo on a host: a systemd unit, a compose service, or the
//! operator's own commands. Every operation is a [`RemoteCommand`] built here and run
//! by a transport elsewhere.

use std::path::PathBuf;

use crate::command::RemoteCommand;
use crate::config::{ServiceConfig, Strategy};

/// How Odoo is controlled on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// `systemctl` on a unit.
    Systemd { unit: String },
    /// `docker compose` on a service; the update runs as a one-off container of it.
    Compose {
        service: String,
        file: Option<PathBuf>,
    },
    /// The operator's commands.
    Command {
        start: Vec<String>,
        stop: Vec<String>,
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
            Self::Compose { service, file } => compose(file.as_ref()).arg("stop").arg(service),
            Self::Command { stop, .. } => argv(stop),
        }
    }

    /// Starts Odoo in the background and returns.
    pub fn start(&self) -> RemoteCommand {
        match self {
            Self::Systemd { unit } => RemoteCommand::new("systemctl").arg("start").arg(unit),
            Self::Compose { service, file } => {
                compose(file.as_ref()).arg("up").arg("-d").arg(service)
            }
            Self::Command { start, .. } => argv(start),
        }
    }

    /// Exits 0 when Odoo runs.
    pub fn status(&self) -> RemoteCommand {
        match self {
            Self::Systemd { unit } => RemoteCommand::new("systemctl")
                .arg("is-active")
                .arg("--quiet")
                .arg(unit),
            // Succeeds only when the service's container runs.
            Self::Compose { service, file } => compose(file.as_ref())
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
            Self::Compose { service, file } => {
                let mut cmd = compose(file.as_ref())
                    .arg("run")
                    .arg("--rm")
                    .arg("--no-deps")
                    .arg(service)
                    .arg(update.program());
                cmd = cmd.args(update.get_args());
                if let Some(t) = update.get_timeout() {
                    cmd = cmd.timeout(t);
                }
                cmd
            }
            _ => update,
        }
    }
}

fn compose(file: Option<&PathBuf>) -> RemoteCommand {
    let cmd = RemoteCommand::new("docker").arg("compose");
    match file {
        Some(file) => cmd.arg("-f").arg(file),
        None => cmd,
    }
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
        };
        assert_eq!(
            argv_of(&no_file.stop()),
            ["docker", "compose", "stop", "web"]
        );
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
