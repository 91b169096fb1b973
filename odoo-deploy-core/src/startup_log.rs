//! Where Odoo's startup log is read from after a start. A module Odoo skips at startup
//! (`ERROR … Some modules are not loaded …`) leaves health at 200: only the log tells,
//! so every strategy needs a source — Odoo's log file, the systemd unit's journal, the
//! compose service's logs, or the operator's own `logs` command.
//!
//! Reading is two commands: a *mark* taken just before the start (the file's size, the
//! host's clock, or what the `logs` command printed so far), then the log since that
//! mark. Both are built here as argv and run by a transport elsewhere.

use std::path::PathBuf;

use serde::Serialize;

use crate::command::RemoteCommand;
use crate::config::{ServiceConfig, Strategy};
use crate::transport::{Transport, TransportError};

/// One source of Odoo's startup log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StartupLog {
    /// Odoo's log file (`log_file`), read from its size before the start.
    File {
        /// The log file on the host.
        path: PathBuf,
    },
    /// The systemd unit's journal since the start (`journalctl -o cat`).
    Journal {
        /// The systemd unit's name.
        unit: String,
    },
    /// The compose service's logs since the start (`docker logs --since` of each of its
    /// containers: v1's `logs` has no `--since`).
    Compose {
        /// The compose service that runs Odoo.
        service: String,
        /// The compose file (`-f`); compose's own lookup when absent.
        file: Option<PathBuf>,
        /// The compose argv prefix (detected on the host when odd.toml names none).
        cli: Vec<String>,
    },
    /// The operator's `logs` argv: what it prints past what it printed before the start.
    Command {
        /// The argv that prints Odoo's log.
        argv: Vec<String>,
    },
}

/// Where the log stood just before the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMark {
    /// Bytes already there (a file, or the `logs` command's output).
    Bytes(u64),
    /// The host's clock, in Unix seconds.
    Since(i64),
}

impl StartupLog {
    /// The source an environment has: its `log_file` first, then the service's `logs`
    /// argv, then what the strategy offers by itself (systemd's journal, compose's logs).
    /// `None` for the command strategy with neither: a plan with no source fails its
    /// gates.
    pub fn from_config(log_file: Option<&PathBuf>, service: &ServiceConfig) -> Option<Self> {
        if let Some(path) = log_file {
            return Some(Self::File { path: path.clone() });
        }
        if let Some(argv) = service.logs.as_ref().filter(|v| !v.is_empty()) {
            return Some(Self::Command { argv: argv.clone() });
        }
        match service.strategy.get_ref() {
            Strategy::Systemd => Some(Self::Journal {
                unit: service.unit.clone().unwrap_or_else(|| "odoo".to_owned()),
            }),
            Strategy::Compose => Some(Self::Compose {
                service: service
                    .compose_service
                    .clone()
                    .unwrap_or_else(|| "odoo".to_owned()),
                file: service.compose_file.clone(),
                cli: service
                    .compose_command
                    .clone()
                    .filter(|c| !c.is_empty())
                    .unwrap_or_else(|| vec!["docker".to_owned(), "compose".to_owned()]),
            }),
            Strategy::Command => None,
        }
    }

    /// Where the log is read from, for the plan.
    pub fn describe(&self) -> String {
        match self {
            Self::File { path } => format!("Odoo's log file {}", path.display()),
            Self::Journal { unit } => format!("the journal of unit {unit} (journalctl)"),
            Self::Compose { service, .. } => {
                format!("the logs of compose service {service} (docker compose logs)")
            }
            Self::Command { argv } => format!("the output of `{}`", argv.join(" ")),
        }
    }

    /// The command whose output is the mark, run just before the start.
    pub fn mark_command(&self) -> RemoteCommand {
        match self {
            Self::File { path } => RemoteCommand::new("stat")
                .arg("-c")
                .arg("%s")
                .arg("--")
                .arg(path),
            Self::Journal { .. } | Self::Compose { .. } => RemoteCommand::new("date").arg("+%s"),
            Self::Command { argv } => crate::service::argv(argv),
        }
    }

    /// The mark a successful [`StartupLog::mark_command`] printed (`output`), or what
    /// to assume when it failed (`None`: a log file not there yet, a `logs` command that
    /// prints nothing before the first start): the whole log, or the local clock.
    pub fn parse_mark(&self, output: Option<&[u8]>, local_now: i64) -> LogMark {
        match self {
            Self::File { .. } => LogMark::Bytes(
                output
                    .and_then(|o| String::from_utf8_lossy(o).trim().parse().ok())
                    .unwrap_or(0),
            ),
            Self::Command { .. } => LogMark::Bytes(output.map_or(0, |o| o.len() as u64)),
            Self::Journal { .. } | Self::Compose { .. } => LogMark::Since(
                output
                    .and_then(|o| String::from_utf8_lossy(o).trim().parse().ok())
                    .unwrap_or(local_now),
            ),
        }
    }

    /// The command that prints the log since `mark`.
    pub fn read_command(&self, mark: LogMark) -> RemoteCommand {
        let since = match mark {
            LogMark::Since(t) => t,
            LogMark::Bytes(_) => 0,
        };
        match self {
            Self::File { path } => {
                let offset = match mark {
                    LogMark::Bytes(n) => n,
                    LogMark::Since(_) => 0,
                };
                RemoteCommand::new("tail")
                    .arg("-c")
                    .arg(format!("+{}", offset + 1))
                    .arg("--")
                    .arg(path)
            }
            Self::Journal { unit } => RemoteCommand::new("journalctl")
                .arg("--unit")
                .arg(unit)
                .arg(format!("--since=@{since}"))
                .arg("--output=cat")
                .arg("--no-pager")
                .arg("--quiet"),
            Self::Compose { service, file, cli } => {
                let mut compose = crate::service::argv(cli);
                if let Some(file) = file {
                    compose = compose.arg("-f").arg(file);
                }
                crate::compose::logs_command(&compose, service, since)
            }
            Self::Command { argv } => crate::service::argv(argv),
        }
    }

    /// Takes the mark on the host.
    pub async fn mark(&self, transport: &dyn Transport) -> LogMark {
        let out = transport.output(&self.mark_command()).await.ok();
        let stdout = out
            .as_ref()
            .filter(|o| o.status.success())
            .map(|o| o.stdout.as_slice());
        self.parse_mark(stdout, crate::clock::now_unix())
    }

    /// The log since `mark`, read on the host.
    pub async fn read(
        &self,
        transport: &dyn Transport,
        mark: LogMark,
    ) -> Result<String, TransportError> {
        let out = transport.check_output(&self.read_command(mark)).await?;
        let new = match (self, mark) {
            (Self::Command { .. }, LogMark::Bytes(n)) => out
                .get(usize::try_from(n).unwrap_or(usize::MAX)..)
                .unwrap_or_default(),
            _ => out.as_slice(),
        };
        Ok(String::from_utf8_lossy(new).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::argv;

    // 2026-12-01 09:30:05 UTC
    const T: i64 = 1_796_117_405;

    #[test]
    fn the_journal_is_read_from_the_start_of_this_deploy() {
        let log = StartupLog::Journal {
            unit: "odoo@acme prod".into(),
        };
        assert_eq!(argv(&log.mark_command()), ["date", "+%s"]);
        assert_eq!(log.parse_mark(Some(b"1796117405\n"), 0), LogMark::Since(T));
        assert_eq!(log.parse_mark(None, 42), LogMark::Since(42));
        assert_eq!(
            argv(&log.read_command(LogMark::Since(T))),
            [
                "journalctl",
                "--unit",
                "odoo@acme prod",
                "--since=@1796117405",
                "--output=cat",
                "--no-pager",
                "--quiet"
            ]
        );
    }

    #[test]
    fn compose_logs_are_read_from_the_start_of_this_deploy() {
        let log = StartupLog::Compose {
            service: "odoo".into(),
            file: Some("/srv/acme/compose.yaml".into()),
            cli: vec!["docker".into(), "compose".into()],
        };
        assert_eq!(argv(&log.mark_command()), ["date", "+%s"]);
        // `docker logs --since` of each of the service's containers (v1's `logs` has no
        // `--since`); every value a positional parameter of the fixed script.
        let words = argv(&log.read_command(LogMark::Since(T)));
        assert_eq!(&words[..2], ["sh", "-c"]);
        assert!(
            words[2].contains("docker logs --since \"$since\""),
            "{words:?}"
        );
        assert_eq!(
            &words[3..],
            [
                "sh",
                "1796117405",
                "odoo",
                "docker",
                "compose",
                "-f",
                "/srv/acme/compose.yaml"
            ]
        );
        let no_file = StartupLog::Compose {
            service: "web".into(),
            file: None,
            cli: vec!["docker-compose".into()],
        };
        assert_eq!(
            &argv(&no_file.read_command(LogMark::Since(0)))[3..],
            ["sh", "0", "web", "docker-compose"]
        );
    }

    #[test]
    fn a_log_file_is_read_past_its_size_before_the_start() {
        let log = StartupLog::File {
            path: "/var/log/odoo/odoo.log".into(),
        };
        assert_eq!(
            argv(&log.mark_command()),
            ["stat", "-c", "%s", "--", "/var/log/odoo/odoo.log"]
        );
        assert_eq!(log.parse_mark(Some(b"1234\n"), 9), LogMark::Bytes(1234));
        assert_eq!(log.parse_mark(None, 9), LogMark::Bytes(0));
        assert_eq!(
            argv(&log.read_command(LogMark::Bytes(1234))),
            ["tail", "-c", "+1235", "--", "/var/log/odoo/odoo.log"]
        );
    }

    #[test]
    fn the_logs_command_is_run_as_given_and_its_earlier_output_skipped() {
        let log = StartupLog::Command {
            argv: vec![
                "/usr/local/bin/odoo-ctl".into(),
                "logs".into(),
                "it's".into(),
            ],
        };
        assert_eq!(
            argv(&log.mark_command()),
            ["/usr/local/bin/odoo-ctl", "logs", "it's"]
        );
        assert_eq!(log.read_command(LogMark::Bytes(7)), log.mark_command());
        assert_eq!(log.parse_mark(Some(b"a\nb\n"), 9), LogMark::Bytes(4));
        assert_eq!(log.parse_mark(None, 9), LogMark::Bytes(0));
    }
}
