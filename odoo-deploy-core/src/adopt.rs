//! `odd init --from-host`: an environment written from a server where Odoo already runs.
//!
//! Three commands over the transport:
//!
//! 1. [`discover_command`]: one script that prints the login user's home, every
//!    `odoo*` systemd unit with its `ExecStart`, the processes whose command line names
//!    Odoo, the usual config files that exist (`/etc/odoo/odoo.conf`, `/etc/odoo.conf`,
//!    `~/.odoorc`, `~/.openerp_serverrc`) and `odoo-bin`/`odoo` on the `PATH`;
//! 2. reading the chosen config file (parsed by [`crate::odoo_conf`], the password kept a
//!    secret and never written anywhere);
//! 3. `odoo-bin --version`, for the series.
//!
//! Odoo's config file is the one given (`--odoo-config`), else the one the unit's
//! `ExecStart` names with `-c`/`--config`, else the first usual place that exists. What the
//! host says is checked before it is written: paths must be absolute and free of control
//! characters, the database name must pass [`crate::untrusted::database`], the port must be
//! a port. Every value reaches the host only as an argv word ([`RemoteCommand`]) and the
//! file only as a TOML string, so quotes, `;` or `$( )` in them are inert.

use std::path::{Path, PathBuf};

use crate::command::RemoteCommand;
use crate::odoo_conf::{OdooConf, OdooConfError};
use crate::transport::{Transport, TransportError};

/// The config files Odoo reads by default, besides `~/.odoorc` (and its old name).
pub const USUAL_CONFIGS: [&str; 2] = ["/etc/odoo/odoo.conf", "/etc/odoo.conf"];

/// The names `odoo-bin` goes by (a source tree, a package's script, old releases).
const ODOO_PROGRAMS: [&str; 4] = ["odoo-bin", "odoo", "odoo.py", "openerp-server"];

/// What the operator said on the command line.
#[derive(Debug, Clone, Default)]
pub struct AdoptRequest {
    /// `--odoo-config`: Odoo's config file on the host.
    pub config: Option<PathBuf>,
    /// `--odoo-bin`: the argv that runs odoo-bin there.
    pub command: Option<Vec<String>>,
    /// `--database`: the database, when the config names none.
    pub database: Option<String>,
    /// `--service-start`, `--service-stop`, `--service-status`: the `command` strategy,
    /// when no systemd unit runs Odoo.
    pub service: Option<CommandService>,
    /// The repository's addons paths (relative), to recognise `<deploy_dir>/current/<path>`
    /// in Odoo's `addons_path`.
    pub repository_paths: Vec<PathBuf>,
}

/// The `command` strategy's argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandService {
    /// The argv that starts Odoo.
    pub start: Vec<String>,
    /// The argv that stops Odoo.
    pub stop: Vec<String>,
    /// The argv that tells whether Odoo runs (exit status 0 when it does).
    pub status: Vec<String>,
}

/// How Odoo is run as a service there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdoptedService {
    /// A systemd unit runs Odoo.
    Systemd {
        /// The unit's name.
        unit: String,
    },
    /// The operator's own commands run Odoo (`--service-start`, …).
    Command(CommandService),
}

/// Everything read from the host, checked.
#[derive(Debug, Clone)]
pub struct Adopted {
    /// Odoo's config file, and how it was found.
    pub conf_path: PathBuf,
    /// How `conf_path` was found, in words for the operator (e.g. "the `-c` of the systemd unit …").
    pub conf_found: String,
    /// The argv running odoo-bin, and how it was found.
    pub command: Vec<String>,
    /// How `command` was found, in words for the operator.
    pub command_found: String,
    /// What `--version` printed (first line) and its series.
    pub version: String,
    /// The Odoo series of `version`, e.g. `18.0`.
    pub series: String,
    /// How Odoo is run as a service on the host.
    pub service: AdoptedService,
    /// The database Odoo serves (`db_name`, or `--database`).
    pub db_name: String,
    /// Odoo's `data_dir` on the host.
    pub data_dir: PathBuf,
    /// `data_dir` is Odoo's default (the config names none).
    pub data_dir_default: bool,
    /// The port Odoo's HTTP server listens on (`http_port`).
    pub http_port: u16,
    /// `http_interface`, when it names one address.
    pub http_interface: Option<String>,
    /// Odoo's log file (`--logfile` of the command line, else `logfile` of the config); none when Odoo logs to stderr.
    pub log_file: Option<PathBuf>,
    /// Odoo's `addons_path`, as its config names it.
    pub addons_path: Vec<PathBuf>,
    /// Where odd will keep releases, ledger, lock and journal on the host.
    pub deploy_dir: PathBuf,
    /// `deploy_dir` was read from an `addons_path` entry `<deploy_dir>/current/<path>`.
    pub deploy_dir_found: bool,
    /// Things the operator should know (shown, and written as comments).
    pub notes: Vec<String>,
}

/// Why no environment could be written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AdoptError {
    /// Running the discovery on the host failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
    /// Odoo's config file could not be parsed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Conf(#[from] OdooConfError),
    #[error("no Odoo config file found on the host: looked for {}", looked.join(", "))]
    #[diagnostic(
        code(odd::adopt::no_config),
        help("name it with --odoo-config PATH (the file Odoo is started with, `-c`)")
    )]
    /// No config file was given, and none was found on the host.
    NoConfig {
        /// What was looked at, in order.
        looked: Vec<String>,
    },
    #[error("cannot read Odoo's config file {} on the host: {source}", path.display())]
    #[diagnostic(
        code(odd::adopt::conf_unreadable),
        help("check the path, and that the user odd logs in as can read it")
    )]
    /// Odoo's config file exists but could not be read.
    ConfUnreadable {
        /// The config file's path on the host.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: TransportError,
    },
    #[error("several systemd units run Odoo with different config files: {}", units.join(", "))]
    #[diagnostic(
        code(odd::adopt::ambiguous),
        help("name the one to adopt with --odoo-config PATH (its `-c` file)")
    )]
    /// Several systemd units run Odoo with different config files.
    Ambiguous {
        /// Each unit, with its `-c` file.
        units: Vec<String>,
    },
    #[error("cannot find odoo-bin on the host: no systemd unit or running process uses {}, and neither `odoo-bin` nor `odoo` is on the login user's PATH", conf.display())]
    #[diagnostic(
        code(odd::adopt::no_odoo_bin),
        help("name it with --odoo-bin \"/opt/odoo/venv/bin/python /opt/odoo/odoo-bin\"")
    )]
    /// No odoo-bin was found for the config file.
    NoOdooBin {
        /// The config file it was looked for.
        conf: PathBuf,
    },
    #[error("`{shown} --version` on the host: {reason}")]
    #[diagnostic(
        code(odd::adopt::version),
        help("check --odoo-bin (or the unit's ExecStart): it must run Odoo's odoo-bin")
    )]
    /// odoo-bin's `--version` failed or printed no version odd knows.
    Version {
        /// The command run, as shown to the operator.
        shown: String,
        /// What went wrong.
        reason: String,
    },
    #[error("no systemd unit runs Odoo on the host")]
    #[diagnostic(
        code(odd::adopt::no_service),
        help(
            "give the commands that start, stop and check Odoo there: --service-start \"…\" --service-stop \"…\" --service-status \"…\" (the `command` strategy)"
        )
    )]
    /// No systemd unit runs Odoo and no `--service-*` commands were given.
    NoService,
    #[error("{} names no database (`db_name`)", conf.display())]
    #[diagnostic(
        code(odd::adopt::no_database),
        help("name the database Odoo serves with --database NAME")
    )]
    /// The config file names no database and none was given.
    NoDatabase {
        /// The config file.
        conf: PathBuf,
    },
    #[error("the host's {key} is {shown}, which odd refuses to write: {reason}")]
    #[diagnostic(
        code(odd::adopt::refused),
        help("fix the value in Odoo's config file on the host (or the unit's ExecStart)")
    )]
    /// A value found on the host cannot be written into odd.toml (e.g. a control character in it).
    Refused {
        /// Which setting.
        key: String,
        /// The value, as shown to the operator.
        shown: String,
        /// Why it is refused.
        reason: String,
    },
}

/// The discovery script (no arguments). Prints NUL-terminated tokens: `home H`, then
/// `unit NAME EXECSTART` per `odoo*` unit, `proc ARGS` per process whose command line
/// mentions odoo (its arguments joined by `\x01`), `exists PATH` per usual config file,
/// `bin PATH` per program found on the PATH.
const DISCOVER_SCRIPT: &str = r#"printf 'home\0%s\0' "${HOME:-}"
if command -v systemctl >/dev/null 2>&1; then
  systemctl list-unit-files --type=service --no-legend --no-pager 'odoo*' 2>/dev/null |
  while read -r u _; do
    case $u in *@.service|'') continue ;; esac
    e=$(systemctl show -p ExecStart --value -- "$u" 2>/dev/null) || e=
    printf 'unit\0%s\0%s\0' "$u" "$e"
  done
fi
for f in $(grep -lasF odoo /proc/[0-9]*/cmdline 2>/dev/null); do
  c=$(tr '\0' '\001' < "$f" 2>/dev/null) || continue
  printf 'proc\0%s\0' "$c"
done
for p in /etc/odoo/odoo.conf /etc/odoo.conf "${HOME:-/nonexistent}/.odoorc" "${HOME:-/nonexistent}/.openerp_serverrc"; do
  if [ -f "$p" ]; then printf 'exists\0%s\0' "$p"; fi
done
for b in odoo-bin odoo; do
  if p=$(command -v -- "$b" 2>/dev/null); then printf 'bin\0%s\0' "$p"; fi
done
"#;

/// The one command that looks around the host.
pub fn discover_command() -> RemoteCommand {
    RemoteCommand::new("sh")
        .arg("-c")
        .arg(DISCOVER_SCRIPT)
        .arg("odd-discover")
}

/// What the discovery script printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    /// The login user's `$HOME`; none when unset or empty.
    pub home: Option<PathBuf>,
    /// `(unit, ExecStart's argv)`.
    pub units: Vec<(String, Vec<String>)>,
    /// Command lines of processes that run Odoo.
    pub processes: Vec<Vec<String>>,
    /// Usual Odoo config files that exist (`/etc/odoo/odoo.conf`, `~/.odoorc`, …).
    pub existing: Vec<PathBuf>,
    /// `odoo-bin` and `odoo` programs found on the login user's `PATH`.
    pub on_path: Vec<PathBuf>,
}

/// Parses the discovery script's output.
pub fn parse_discovery(out: &[u8]) -> Discovery {
    let mut d = Discovery::default();
    let mut tokens = out
        .split(|b| *b == 0)
        .map(|t| String::from_utf8_lossy(t).into_owned());
    while let Some(kind) = tokens.next() {
        match kind.as_str() {
            "home" => d.home = tokens.next().filter(|h| !h.is_empty()).map(PathBuf::from),
            "unit" => {
                let (Some(name), Some(exec)) = (tokens.next(), tokens.next()) else {
                    break;
                };
                d.units.push((name, parse_exec_start(&exec)));
            }
            "proc" => {
                let Some(args) = tokens.next() else { break };
                let argv: Vec<String> = args
                    .trim_end_matches('\u{1}')
                    .split('\u{1}')
                    .map(str::to_owned)
                    .collect();
                if odoo_program_index(&argv).is_some() {
                    d.processes.push(argv);
                }
            }
            "exists" => d.existing.extend(tokens.next().map(PathBuf::from)),
            "bin" => d.on_path.extend(tokens.next().map(PathBuf::from)),
            _ => {}
        }
    }
    d
}

/// The argv of `systemctl show -p ExecStart --value`:
/// `{ path=/usr/bin/odoo ; argv[]=/usr/bin/odoo -c /etc/odoo/odoo.conf ; ignore_errors=no ; … }`
/// (words split on spaces, as systemd shows them; the first command only).
pub fn parse_exec_start(value: &str) -> Vec<String> {
    let Some(at) = value.find("argv[]=") else {
        return Vec::new();
    };
    let rest = &value[at + "argv[]=".len()..];
    let end = rest.find(" ; ").unwrap_or(rest.len());
    rest[..end].split_whitespace().map(str::to_owned).collect()
}

fn odoo_program_index(argv: &[String]) -> Option<usize> {
    argv.iter().position(|w| {
        Path::new(w)
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| ODOO_PROGRAMS.contains(&n))
    })
}

/// An Odoo command line taken apart: the argv up to odoo-bin, its `-c`/`--config` and
/// `--logfile`, and whether it sets `--addons-path` itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OdooArgv {
    /// The argv up to and including odoo-bin (the interpreter, when there is one).
    pub command: Vec<String>,
    /// The `-c`/`--config` file, when the command line names one.
    pub config: Option<PathBuf>,
    /// The `--logfile`, when the command line names one.
    pub logfile: Option<PathBuf>,
    /// Whether the command line sets `--addons-path` itself.
    pub addons_path_flag: bool,
}

/// Splits an Odoo command line (a unit's `ExecStart`, a process's).
pub fn split_odoo_argv(argv: &[String]) -> OdooArgv {
    let Some(program) = odoo_program_index(argv).or((!argv.is_empty()).then_some(0)) else {
        return OdooArgv::default();
    };
    let mut out = OdooArgv {
        command: argv[..=program].to_vec(),
        ..OdooArgv::default()
    };
    let mut words = argv[program + 1..].iter();
    while let Some(w) = words.next() {
        let mut value = |long: &str, short: Option<&str>| -> Option<String> {
            if w == long || short.is_some_and(|s| w == s) {
                return words.next().cloned();
            }
            if let Some(v) = w.strip_prefix(long).and_then(|r| r.strip_prefix('=')) {
                return Some(v.to_owned());
            }
            short
                .and_then(|s| w.strip_prefix(s))
                .filter(|v| !v.is_empty() && !w.starts_with("--"))
                .map(str::to_owned)
        };
        if let Some(v) = value("--config", Some("-c")) {
            out.config = Some(PathBuf::from(v));
        } else if let Some(v) = value("--logfile", None) {
            out.logfile = Some(PathBuf::from(v));
        } else if w == "--addons-path" || w.starts_with("--addons-path=") {
            out.addons_path_flag = true;
        }
    }
    out
}

/// Checks a path the host gave: absolute, no control character.
fn host_path(key: &str, value: &Path) -> Result<PathBuf, AdoptError> {
    let text = value.to_string_lossy();
    let reason = if text.chars().any(char::is_control) {
        Some("it holds a control character (a newline, …)")
    } else if !value.is_absolute() {
        Some("it is not absolute")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(AdoptError::Refused {
            key: key.to_owned(),
            shown: crate::untrusted::shown(&text),
            reason: reason.to_owned(),
        }),
        None => Ok(value.to_owned()),
    }
}

fn refused(key: &str, value: &str, reason: &str) -> AdoptError {
    AdoptError::Refused {
        key: key.to_owned(),
        shown: crate::untrusted::shown(value),
        reason: reason.to_owned(),
    }
}

/// Reads the host and checks what it says.
pub async fn adopt(
    transport: &dyn Transport,
    request: &AdoptRequest,
) -> Result<Adopted, AdoptError> {
    let out = transport.check_output(&discover_command()).await?;
    let found = parse_discovery(&out);
    let mut notes = Vec::new();
    let units: Vec<(String, OdooArgv)> = found
        .units
        .iter()
        .filter(|(_, argv)| !argv.is_empty())
        .map(|(u, argv)| (u.clone(), split_odoo_argv(argv)))
        .collect();

    let (conf_path, conf_found, unit) = choose_config(&found, &units, request.config.as_ref())?;
    let conf_path = host_path("config file", &conf_path)?;
    if let Some((u, a)) = &unit
        && a.addons_path_flag
    {
        notes.push(format!(
            "the unit {u} passes --addons-path itself: odd checks the config file's addons_path; move it there"
        ));
    }

    // odoo-bin.
    let by_process = || {
        found
            .processes
            .iter()
            .map(|p| split_odoo_argv(p))
            .find(|a| a.config.as_ref() == Some(&conf_path))
    };
    let (command, command_found) = if let Some(c) = &request.command {
        (c.clone(), "given with --odoo-bin".to_owned())
    } else if let Some((u, a)) = &unit {
        (a.command.clone(), format!("the ExecStart of {u}"))
    } else if let Some(a) = by_process() {
        (
            a.command,
            format!(
                "the running process started with -c {}",
                conf_path.display()
            ),
        )
    } else if let Some(bin) = found.on_path.first() {
        (
            vec![bin.display().to_string()],
            "the login user's PATH".to_owned(),
        )
    } else {
        return Err(AdoptError::NoOdooBin { conf: conf_path });
    };
    for word in &command {
        if word.chars().any(char::is_control) {
            return Err(refused(
                "odoo-bin command",
                word,
                "it holds a control character",
            ));
        }
    }

    // The config itself.
    let bytes =
        transport
            .read_file(&conf_path)
            .await
            .map_err(|source| AdoptError::ConfUnreadable {
                path: conf_path.clone(),
                source,
            })?;
    let conf = OdooConf::parse(&conf_path, &String::from_utf8_lossy(&bytes))?;

    // Its version.
    let (version, series) = odoo_version(transport, &command).await?;

    let db_name = match (conf.get("db_name"), &request.database) {
        (_, Some(given)) => given.clone(),
        (Some(name), None) => {
            let first = name.split(',').next().unwrap_or("").trim().to_owned();
            if name.contains(',') {
                notes.push(format!(
                    "db_name names several databases ({name}): odd deploys {first}; write one environment per database"
                ));
            }
            first
        }
        (None, None) => return Err(AdoptError::NoDatabase { conf: conf_path }),
    };
    crate::untrusted::database(&db_name).map_err(|r| AdoptError::Refused {
        key: "db_name".to_owned(),
        shown: r.shown,
        reason: r.reason.to_owned(),
    })?;

    let (data_dir, data_dir_default) = match conf.data_dir() {
        Some(d) => (host_path("data_dir", &d)?, false),
        None => {
            let home = found.home.clone().ok_or_else(|| {
                refused(
                    "home",
                    "",
                    "the login user has no HOME, and the config names no data_dir",
                )
            })?;
            (
                host_path("data_dir", &home.join(".local/share/Odoo"))?,
                true,
            )
        }
    };
    let port_text = conf
        .get("http_port")
        .or_else(|| conf.get("xmlrpc_port"))
        .unwrap_or("8069");
    let http_port: u16 = port_text
        .parse()
        .map_err(|_| refused("http_port", port_text, "it is not a port number"))?;
    let http_interface = match conf
        .get("http_interface")
        .or_else(|| conf.get("xmlrpc_interface"))
    {
        None | Some("0.0.0.0" | "::" | "[::]") => None,
        Some(i)
            if !i.is_empty()
                && i.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-')) =>
        {
            Some(i.to_owned())
        }
        Some(i) => return Err(refused("http_interface", i, "it is not an address")),
    };
    let log_file = match unit.as_ref().and_then(|(_, a)| a.logfile.clone()) {
        Some(l) => Some(host_path("--logfile of the unit", &l)?),
        None => conf
            .get("logfile")
            .map(|l| host_path("logfile", Path::new(l)))
            .transpose()?,
    };
    let mut addons_path = Vec::new();
    for p in conf.addons_path() {
        addons_path.push(host_path("addons_path entry", &p)?);
    }
    let (deploy_dir, deploy_dir_found) = match deploy_dir_of(
        &addons_path,
        &request.repository_paths,
    ) {
        Some(d) => (d, true),
        None => {
            let home = found.home.clone().unwrap_or_else(|| PathBuf::from("/srv"));
            notes.push(format!(
                "addons_path in {} names no <deploy_dir>/current/<path>: point it at the release (see README, \"Setting up a server for odd\") before the first deploy",
                conf_path.display()
            ));
            (home.join("odd"), false)
        }
    };
    let service = match (&unit, &request.service) {
        (_, Some(s)) => AdoptedService::Command(s.clone()),
        (Some((u, _)), None) => AdoptedService::Systemd { unit: u.clone() },
        (None, None) => return Err(AdoptError::NoService),
    };
    if log_file.is_none() && matches!(service, AdoptedService::Command(_)) {
        notes.push(
            "Odoo's config sets no logfile: the command strategy needs `log_file` or a `logs` argv to read Odoo's startup log".to_owned(),
        );
    }
    if conf.db_user() == Some("postgres") {
        notes.push(format!(
            "db_user in {} is `postgres`: Odoo refuses to run as the superuser; give it a role of its own",
            conf_path.display()
        ));
    }
    Ok(Adopted {
        conf_path,
        conf_found,
        command,
        command_found,
        version,
        series,
        service,
        db_name,
        data_dir,
        data_dir_default,
        http_port,
        http_interface,
        log_file,
        addons_path,
        deploy_dir,
        deploy_dir_found,
        notes,
    })
}

/// A unit's name and its Odoo command line.
type Unit = (String, OdooArgv);

/// Odoo's config file: the one given, else the unit's `-c`, else a usual place; with how
/// it was found and the unit that runs Odoo with it.
fn choose_config(
    found: &Discovery,
    units: &[Unit],
    given: Option<&PathBuf>,
) -> Result<(PathBuf, String, Option<Unit>), AdoptError> {
    if let Some(given) = given {
        let unit = units
            .iter()
            .find(|(_, a)| a.config.as_ref() == Some(given))
            .cloned();
        let how = match &unit {
            Some((u, _)) => format!("given with --odoo-config; the unit {u} runs Odoo with it"),
            None => "given with --odoo-config".to_owned(),
        };
        Ok((given.clone(), how, unit))
    } else {
        let with_conf: Vec<&(String, OdooArgv)> =
            units.iter().filter(|(_, a)| a.config.is_some()).collect();
        let mut configs: Vec<&PathBuf> = with_conf
            .iter()
            .filter_map(|(_, a)| a.config.as_ref())
            .collect();
        configs.sort();
        configs.dedup();
        match (with_conf.first(), configs.len()) {
            (Some((u, a)), 1) => Ok((
                a.config.clone().unwrap_or_default(),
                format!("the `-c` of the systemd unit {u}'s ExecStart"),
                Some((u.clone(), a.clone())),
            )),
            (Some(_), _) => Err(AdoptError::Ambiguous {
                units: with_conf
                    .iter()
                    .map(|(u, a)| {
                        format!(
                            "{u} (-c {})",
                            a.config.as_deref().unwrap_or(Path::new("")).display()
                        )
                    })
                    .collect(),
            }),
            (None, _) => match found.existing.first() {
                Some(p) => Ok((p.clone(), "a usual place of Odoo's config".to_owned(), None)),
                None => {
                    let mut looked = vec![if units.is_empty() {
                        "systemd units named odoo* (none)".to_owned()
                    } else {
                        format!(
                            "the `-c`/`--config` of the ExecStart of {} (none given)",
                            units
                                .iter()
                                .map(|(u, _)| u.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }];
                    looked.extend(USUAL_CONFIGS.iter().map(|p| (*p).to_owned()));
                    let home = found.home.clone().unwrap_or_else(|| PathBuf::from("~"));
                    looked.push(home.join(".odoorc").display().to_string());
                    looked.push(home.join(".openerp_serverrc").display().to_string());
                    Err(AdoptError::NoConfig { looked })
                }
            },
        }
    }
}

/// The `D` of the first `addons_path` entry `D/current/P` with `P` one of the
/// repository's addons paths (any `P` when the repository has none).
fn deploy_dir_of(addons_path: &[PathBuf], repository: &[PathBuf]) -> Option<PathBuf> {
    addons_path.iter().find_map(|entry| {
        entry.ancestors().find_map(|a| {
            if a.file_name()? != "current" {
                return None;
            }
            let rest = entry.strip_prefix(a).ok()?;
            (repository.is_empty() || repository.iter().any(|r| r == rest))
                .then(|| a.parent().map(Path::to_path_buf))
                .flatten()
        })
    })
}

async fn odoo_version(
    transport: &dyn Transport,
    command: &[String],
) -> Result<(String, String), AdoptError> {
    let shown = command.join(" ");
    let Some((program, args)) = command.split_first() else {
        return Err(AdoptError::Version {
            shown,
            reason: "the command is empty".to_owned(),
        });
    };
    let cmd = RemoteCommand::new(program).args(args).arg("--version");
    let out = transport.output(&cmd).await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(AdoptError::Version {
            shown,
            reason: format!(
                "exit {}: {}",
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    let series = crate::doctor::parse_odoo_version(&stdout).ok_or_else(|| AdoptError::Version {
        shown: shown.clone(),
        reason: format!("printed no `Odoo Server` version: {}", stdout.trim()),
    })?;
    let line = stdout.lines().next().unwrap_or("").trim().to_owned();
    Ok((line, series))
}

/// Where odd runs from and how it logs in, written into the environment.
#[derive(Debug, Clone)]
pub struct HostLogin {
    /// The host's address.
    pub address: String,
    /// The SSH login user; ssh's default when absent.
    pub user: Option<String>,
    /// The SSH port; 22 when absent.
    pub port: Option<u16>,
    /// The private key to log in with; ssh's choice when absent.
    pub identity_file: Option<PathBuf>,
    /// A known_hosts file instead of `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// Whether an unknown host key is trusted (and recorded) on first contact.
    pub accept_new_host_key: bool,
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn qp(p: &Path) -> String {
    q(&p.to_string_lossy())
}

fn array(words: &[String]) -> String {
    format!(
        "[{}]",
        words.iter().map(|w| q(w)).collect::<Vec<_>>().join(", ")
    )
}

/// The `[environments.NAME]` tables for what was adopted, commented.
pub fn environment_toml(name: &str, login: &HostLogin, a: &Adopted) -> String {
    let mut host = vec![format!("address = {}", q(&login.address))];
    if let Some(u) = &login.user {
        host.push(format!("user = {}", q(u)));
    }
    if let Some(p) = login.port {
        host.push(format!("port = {p}"));
    }
    if let Some(i) = &login.identity_file {
        host.push(format!("identity_file = {}", qp(i)));
    }
    if let Some(k) = &login.known_hosts {
        host.push(format!("known_hosts = {}", qp(k)));
    }
    if login.accept_new_host_key {
        host.push("accept_new_host_key = true".to_owned());
    }
    let mut t = format!(
        "[environments.{name}]\n\
         # Adopted from the running server by `odd init --from-host`; Odoo's config there is\n\
         # {conf} ({found}).\n",
        conf = a.conf_path.display(),
        found = a.conf_found,
    );
    for note in &a.notes {
        t.push_str(&format!("# NOTE: {note}\n"));
    }
    t.push_str(&format!(
        "transport = \"ssh\"\nhost = {{ {} }}\n\n",
        host.join(", ")
    ));
    t.push_str(&format!("[environments.{name}.odoo]\n"));
    t.push_str(&format!(
        "# How odoo-bin runs on the host (from {}): `{}`.\ncommand = {}\n",
        a.command_found,
        a.version,
        array(&a.command)
    ));
    t.push_str(&format!(
        "# Odoo's own config file: odd reads its addons_path, data_dir and database settings\n\
         # there when needed (`odd doctor` checks they agree with this file).\nconfig = {}\n",
        qp(&a.conf_path)
    ));
    t.push_str(&format!(
        "# Odoo's data_dir ({}): the filestore odd snapshots is the one Odoo writes.\ndata_dir = {}\n",
        if a.data_dir_default {
            "the config names none: Odoo's default for the login user"
        } else {
            "`data_dir` in its config"
        },
        qp(&a.data_dir)
    ));
    t.push_str(&format!(
        "# odd's releases, ledger, lock and journal; Odoo's addons_path must name\n\
         # <deploy_dir>/current/<path> for each of [project] addons_paths ({}).\ndeploy_dir = {}\n",
        if a.deploy_dir_found {
            "read from its addons_path"
        } else {
            "a proposal: its addons_path names none yet"
        },
        qp(&a.deploy_dir)
    ));
    match &a.log_file {
        Some(l) => t.push_str(&format!(
            "# Odoo's log file (`logfile`), read through each startup.\nlog_file = {}\n",
            qp(l)
        )),
        None => t.push_str(match a.service {
            AdoptedService::Systemd { .. } => {
                "# Odoo logs to its standard output (no `logfile`): odd reads the unit's journal.\n"
            }
            AdoptedService::Command(_) => {
                "# Odoo's config sets no `logfile`: set log_file here, or `logs` (an argv printing\n\
                 # Odoo's log) in [service]: the command strategy needs one.\n"
            }
        }),
    }
    t.push('\n');
    t.push_str(&format!("[environments.{name}.service]\n"));
    match &a.service {
        AdoptedService::Systemd { unit } => t.push_str(&format!(
            "# The systemd unit that runs Odoo (odd stops and starts it around the update).\n\
             strategy = \"systemd\"\nunit = {}\n",
            q(unit)
        )),
        AdoptedService::Command(c) => t.push_str(&format!(
            "# Odoo's own start, stop and status commands (no systemd unit runs it).\n\
             strategy = \"command\"\nstart = {}\nstop = {}\nstatus = {}\n",
            array(&c.start),
            array(&c.stop),
            array(&c.status)
        )),
    }
    t.push('\n');
    t.push_str(&format!(
        "[environments.{name}.database]\n\
         # The database Odoo serves (`db_name`). db_host, db_port, db_user and db_password are\n\
         # read from Odoo's config on the host when needed, never copied here.\n\
         name = {}\nfrom_odoo_config = true\n\n",
        q(&a.db_name)
    ));
    let http_host = a
        .http_interface
        .clone()
        .unwrap_or_else(|| login.address.clone());
    let loopback = a
        .http_interface
        .as_deref()
        .is_some_and(|i| i == "localhost" || i.starts_with("127.") || i == "::1");
    t.push_str(&format!("[environments.{name}.http]\n"));
    if loopback {
        t.push_str(
            "# Odoo listens on the host's loopback only (`http_interface`) and odd checks health\n\
             # from where it runs: point base_url at the URL a proxy serves if that is not the host.\n",
        );
    } else {
        t.push_str("# Where odd checks Odoo's health (`http_port` of its config).\n");
    }
    let http_host = if http_host.contains(':') {
        format!("[{http_host}]")
    } else {
        http_host
    };
    t.push_str(&format!(
        "base_url = {}\nhealth_path = \"/web/health\"\n",
        q(&format!("http://{http_host}:{}", a.http_port))
    ));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_start_as_systemctl_shows_it() {
        let v = "{ path=/opt/odoo/venv/bin/python ; argv[]=/opt/odoo/venv/bin/python /opt/odoo/odoo-bin -c /etc/odoo/odoo.conf --logfile=/var/log/odoo/odoo.log ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }";
        let argv = parse_exec_start(v);
        let split = split_odoo_argv(&argv);
        assert_eq!(
            split.command,
            ["/opt/odoo/venv/bin/python", "/opt/odoo/odoo-bin"]
        );
        assert_eq!(split.config, Some(PathBuf::from("/etc/odoo/odoo.conf")));
        assert_eq!(split.logfile, Some(PathBuf::from("/var/log/odoo/odoo.log")));
        assert!(!split.addons_path_flag);
        let deb = split_odoo_argv(&parse_exec_start(
            "{ path=/usr/bin/odoo ; argv[]=/usr/bin/odoo --config /etc/odoo/odoo.conf --addons-path=/x ; ignore_errors=no }",
        ));
        assert_eq!(deb.command, ["/usr/bin/odoo"]);
        assert_eq!(deb.config, Some(PathBuf::from("/etc/odoo/odoo.conf")));
        assert!(deb.addons_path_flag);
        let short = split_odoo_argv(&["odoo-bin".to_owned(), "-c/etc/o.conf".to_owned()]);
        assert_eq!(short.config, Some(PathBuf::from("/etc/o.conf")));
        assert_eq!(parse_exec_start(""), Vec::<String>::new());
    }

    #[test]
    fn the_discovery_output_is_read_token_by_token() {
        let out = b"home\0/home/odoo\0unit\0odoo.service\0{ path=/usr/bin/odoo ; argv[]=/usr/bin/odoo -c /etc/odoo/odoo.conf ; x }\0\
proc\0/usr/bin/python3\x01/srv/odoo/odoo-bin\x01-c\x01/srv/odoo.conf\x01\0\
proc\0sh\x01-c\x01grep odoo\x01\0exists\0/etc/odoo.conf\0bin\0/usr/bin/odoo\0";
        let d = parse_discovery(out);
        assert_eq!(d.home, Some(PathBuf::from("/home/odoo")));
        assert_eq!(d.units.len(), 1);
        assert_eq!(d.units[0].1[2], "/etc/odoo/odoo.conf");
        assert_eq!(
            d.processes,
            [vec![
                "/usr/bin/python3".to_owned(),
                "/srv/odoo/odoo-bin".to_owned(),
                "-c".to_owned(),
                "/srv/odoo.conf".to_owned()
            ]],
            "a shell that only mentions odoo is not Odoo"
        );
        assert_eq!(d.existing, [PathBuf::from("/etc/odoo.conf")]);
        assert_eq!(d.on_path, [PathBuf::from("/usr/bin/odoo")]);
    }

    fn unit(name: &str, exec: &str) -> Unit {
        (name.to_owned(), split_odoo_argv(&parse_exec_start(exec)))
    }

    #[test]
    fn the_config_is_the_given_one_else_the_units_else_a_usual_place() {
        let odoo = unit(
            "odoo.service",
            "{ path=/usr/bin/odoo ; argv[]=/usr/bin/odoo -c /etc/odoo/odoo.conf ; x }",
        );
        let found = Discovery {
            home: Some(PathBuf::from("/home/odoo")),
            existing: vec![PathBuf::from("/etc/odoo.conf")],
            ..Discovery::default()
        };
        let units = [odoo.clone()];
        let (path, how, by) = choose_config(&found, &units, None).expect("the unit's");
        assert_eq!(path, PathBuf::from("/etc/odoo/odoo.conf"));
        assert!(how.contains("odoo.service"), "{how}");
        assert_eq!(by.map(|u| u.0).as_deref(), Some("odoo.service"));

        let given = PathBuf::from("/srv/other.conf");
        let (path, how, by) = choose_config(&found, &units, Some(&given)).expect("given");
        assert_eq!(
            (path, how.as_str(), by),
            (given, "given with --odoo-config", None)
        );

        let (path, _, by) = choose_config(&found, &[], None).expect("a usual place");
        assert_eq!((path, by), (PathBuf::from("/etc/odoo.conf"), None));

        let staging = unit(
            "odoo-staging.service",
            "{ path=/usr/bin/odoo ; argv[]=/usr/bin/odoo --config=/etc/odoo/staging.conf ; x }",
        );
        let err = choose_config(&found, &[odoo.clone(), staging], None).expect_err("two");
        assert!(
            matches!(err, AdoptError::Ambiguous { ref units } if units.len() == 2),
            "{err}"
        );
        // Two units on one config are one installation.
        let twin = unit(
            "odoo-worker.service",
            "{ path=/usr/bin/odoo ; argv[]=/usr/bin/odoo -c /etc/odoo/odoo.conf ; x }",
        );
        assert!(choose_config(&found, &[odoo, twin], None).is_ok());

        let none = Discovery {
            home: Some(PathBuf::from("/home/odoo")),
            ..Discovery::default()
        };
        let err = choose_config(&none, &[], None).expect_err("nothing");
        let text = err.to_string();
        for looked in [
            "systemd units named odoo* (none)",
            "/etc/odoo/odoo.conf",
            "/etc/odoo.conf",
            "/home/odoo/.odoorc",
        ] {
            assert!(text.contains(looked), "{text}");
        }
    }

    #[test]
    fn deploy_dir_is_read_from_an_addons_path_through_current() {
        let paths = [
            PathBuf::from("/opt/oca/web"),
            PathBuf::from("/srv/odd/current/custom_addons"),
        ];
        assert_eq!(
            deploy_dir_of(&paths, &[PathBuf::from("custom_addons")]),
            Some(PathBuf::from("/srv/odd"))
        );
        assert_eq!(deploy_dir_of(&paths, &[PathBuf::from("addons")]), None);
        assert_eq!(deploy_dir_of(&paths[..1], &[]), None);
    }

    #[test]
    fn hostile_host_values_are_refused_or_quoted() {
        assert!(host_path("data_dir", Path::new("/var/lib/odoo\n$(reboot)")).is_err());
        assert!(host_path("data_dir", Path::new("relative/dir")).is_err());
        let odd = host_path("data_dir", Path::new("/srv/it's \"odd\"; $(x)")).expect("legal");
        let a = Adopted {
            conf_path: PathBuf::from("/etc/odoo.conf"),
            conf_found: "x".to_owned(),
            command: vec!["/opt/o dd/odoo-bin".to_owned()],
            command_found: "x".to_owned(),
            version: "Odoo Server 18.0".to_owned(),
            series: "18.0".to_owned(),
            service: AdoptedService::Systemd {
                unit: "odoo.service".to_owned(),
            },
            db_name: "db\"; DROP".to_owned(),
            data_dir: odd,
            data_dir_default: false,
            http_port: 8069,
            http_interface: None,
            log_file: None,
            addons_path: Vec::new(),
            deploy_dir: PathBuf::from("/srv/odd"),
            deploy_dir_found: false,
            notes: Vec::new(),
        };
        let login = HostLogin {
            address: "erp.example.com".to_owned(),
            user: Some("odoo".to_owned()),
            port: None,
            identity_file: None,
            known_hosts: None,
            accept_new_host_key: false,
        };
        let text = format!(
            "[project]\naddons_paths = [\"addons\"]\nseries = \"18.0\"\n\n{}",
            environment_toml("production", &login, &a)
        );
        let loaded = crate::config::LoadedConfig::parse(Path::new("odd.toml"), text.clone())
            .unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        let env = loaded.environment("production").expect("env");
        assert_eq!(env.odoo.data_dir, PathBuf::from("/srv/it's \"odd\"; $(x)"));
        assert_eq!(env.database.name.get_ref(), "db\"; DROP");
        assert!(env.database.from_odoo_config());
    }
}
