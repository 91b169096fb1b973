//! `odd init`: a commented starter odd.toml for the project in the current directory;
//! with `--from-host`, its environment read from a server where Odoo already runs.

use std::path::{Path, PathBuf};

use odoo_deploy_core::adopt::{self, AdoptRequest, CommandService, HostLogin};
use odoo_deploy_core::config::{CONFIG_FILE, HostConfig};
use odoo_deploy_core::init;

use crate::context;
use crate::output::{self, CliError, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The project's root (default: the current directory).
    #[arg(value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Print the config instead of writing it.
    #[arg(long)]
    stdout: bool,
    /// Overwrite an existing odd.toml.
    #[arg(long)]
    force: bool,
    /// Write the environment from a server where Odoo runs, read over SSH: its Odoo
    /// config (from the systemd unit's `ExecStart -c`, `--odoo-config`, or the usual
    /// places), odoo-bin and its version, the service. No secret is copied.
    #[arg(long, value_name = "USER@HOST[:PORT]")]
    from_host: Option<String>,
    /// Odoo's config file on the host (the file Odoo is started with, `-c`).
    #[arg(long, value_name = "PATH", requires = "from_host")]
    odoo_config: Option<PathBuf>,
    /// The argv that runs odoo-bin on the host, as shell words (when no unit or running
    /// process tells it).
    #[arg(long, value_name = "COMMAND", requires = "from_host")]
    odoo_bin: Option<String>,
    /// The database, when Odoo's config names none (`db_name`).
    #[arg(long, value_name = "NAME", requires = "from_host")]
    database: Option<String>,
    /// The environment's name in odd.toml.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "production",
        requires = "from_host"
    )]
    env: String,
    /// The private key to log in with.
    #[arg(long, value_name = "FILE", requires = "from_host")]
    identity_file: Option<PathBuf>,
    /// The known_hosts file holding the host's key.
    #[arg(long, value_name = "FILE", requires = "from_host")]
    known_hosts: Option<PathBuf>,
    /// Trust a host key never seen before (and record it).
    #[arg(long, requires = "from_host")]
    accept_new_host_key: bool,
    /// The `command` strategy, when no systemd unit runs Odoo: the command that starts it
    /// (shell words; with --service-stop and --service-status).
    #[arg(long, value_name = "COMMAND", requires_all = ["from_host", "service_stop", "service_status"])]
    service_start: Option<String>,
    /// The command that stops Odoo and waits until it is gone.
    #[arg(long, value_name = "COMMAND", requires = "service_start")]
    service_stop: Option<String>,
    /// The command that exits 0 while Odoo runs.
    #[arg(long, value_name = "COMMAND", requires = "service_start")]
    service_status: Option<String>,
}

pub(crate) fn run(args: &Args) -> Result<Status, CliError> {
    let detected = init::detect(&args.dir);
    let (text, said) = match &args.from_host {
        Some(host) => from_host(args, host, &detected)?,
        None => (init::starter_config(&detected), Vec::new()),
    };
    if args.stdout {
        output::print(&text)?;
        return Ok(Status::Success);
    }
    let path = args.dir.join(CONFIG_FILE);
    if path.exists() && !args.force {
        return Err(CliError::Report(miette::miette!(
            help = "pass --force to replace it, or --stdout to see the starter config",
            "{} already exists",
            path.display()
        )));
    }
    std::fs::write(&path, text)
        .map_err(|e| CliError::Report(miette::miette!("cannot write {}: {e}", path.display())))?;
    for (dir, count) in &detected.addons_paths {
        output::say(&format!("addons path {} ({count} addons)", dir.display()));
    }
    if !detected.leaves.is_empty() {
        let names: Vec<&str> = detected.leaves.iter().map(|(n, _)| n.as_str()).collect();
        output::say(&format!(
            "required_modules: {} (what a first deploy installs; edit the list)",
            names.join(", ")
        ));
    }
    if detected.addons_paths.is_empty() {
        output::say("no addons found: edit addons_paths");
    }
    for line in &said {
        output::say(line);
    }
    if args.from_host.is_some() {
        output::say(&format!(
            "wrote {}: check it, then run `odd doctor {}`",
            path.display(),
            args.env
        ));
    } else {
        output::say(&format!(
            "wrote {}: fill in the environments, then run `odd plan ENV`",
            path.display()
        ));
    }
    Ok(Status::Success)
}

/// `USER@HOST[:PORT]` (`[ADDRESS]:PORT` for IPv6).
fn parse_host(spec: &str) -> Result<(Option<String>, String, Option<u16>), CliError> {
    let bad = |why: &str| {
        CliError::bad_input(miette::miette!(
            help = "write it as USER@HOST or USER@HOST:PORT, e.g. odoo@erp.example.com:2222",
            "--from-host {spec:?}: {why}"
        ))
    };
    let (user, rest) = match spec.rsplit_once('@') {
        Some((u, r)) if !u.is_empty() => (Some(u.to_owned()), r),
        Some(_) => return Err(bad("the user before `@` is empty")),
        None => (None, spec),
    };
    let (address, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (addr, after) = inner.split_once(']').ok_or_else(|| bad("no closing `]`"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(bad("text after `]`")),
        };
        (addr.to_owned(), port)
    } else {
        match rest.split_once(':') {
            Some((a, p)) => (a.to_owned(), Some(p)),
            None => (rest.to_owned(), None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| bad("the port is not a number"))
        })
        .transpose()?;
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_');
    if address.is_empty() || !address.chars().all(ok) {
        return Err(bad("not a host name or address"));
    }
    if user.as_deref().is_some_and(|u| {
        !u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    }) {
        return Err(bad("not a user name"));
    }
    Ok((user, address, port))
}

fn words(flag: &str, text: &str) -> Result<Vec<String>, CliError> {
    match shlex::split(text) {
        Some(w) if !w.is_empty() => Ok(w),
        _ => Err(CliError::bad_input(miette::miette!(
            help = "give the command as shell words, quoted as a whole: --odoo-bin \"/opt/odoo/venv/bin/python /opt/odoo/odoo-bin\"",
            "{flag} {text:?} is not a command"
        ))),
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

fn from_host(
    args: &Args,
    spec: &str,
    detected: &init::Detected,
) -> Result<(String, Vec<String>), CliError> {
    let (user, address, port) = parse_host(spec)?;
    if args.env.is_empty()
        || !args
            .env
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    {
        return Err(CliError::bad_input(miette::miette!(
            "--env {:?}: an environment name is letters, digits, `-` and `_`",
            args.env
        )));
    }
    let login = HostLogin {
        address: address.clone(),
        user: user.clone(),
        port,
        identity_file: args.identity_file.as_deref().map(absolute),
        known_hosts: args.known_hosts.as_deref().map(absolute),
        accept_new_host_key: args.accept_new_host_key,
    };
    let host = HostConfig {
        address,
        user,
        port,
        identity_file: login.identity_file.clone(),
        known_hosts: login.known_hosts.clone(),
        accept_new_host_key: args.accept_new_host_key,
        jump: None,
        connect_timeout_secs: 10,
        keepalive_secs: 15,
        reconnect_for_secs: 45,
    };
    let service = match (
        &args.service_start,
        &args.service_stop,
        &args.service_status,
    ) {
        (Some(start), Some(stop), Some(status)) => Some(CommandService {
            start: words("--service-start", start)?,
            stop: words("--service-stop", stop)?,
            status: words("--service-status", status)?,
        }),
        _ => None,
    };
    let request = AdoptRequest {
        config: args.odoo_config.clone(),
        command: args
            .odoo_bin
            .as_deref()
            .map(|c| words("--odoo-bin", c))
            .transpose()?,
        database: args.database.clone(),
        service,
        repository_paths: detected
            .addons_paths
            .iter()
            .map(|(p, _)| p.clone())
            .collect(),
    };
    let adopted = context::runtime()?.block_on(async {
        let transport = context::connect_ssh(&host, Path::to_path_buf).await?;
        adopt::adopt(transport.as_ref(), &request)
            .await
            .map_err(CliError::diagnostic)
    })?;
    let mut said = vec![
        format!(
            "Odoo's config on the host: {} ({})",
            adopted.conf_path.display(),
            adopted.conf_found
        ),
        format!(
            "odoo-bin: {} ({}): {}",
            adopted.command.join(" "),
            adopted.command_found,
            adopted.version
        ),
    ];
    if let Some(series) = detected.series.as_deref()
        && series != adopted.series
    {
        said.push(format!(
            "the repository's manifests are for {series}, the host runs Odoo {}: `odd doctor` will say so",
            adopted.series
        ));
    }
    said.extend(adopted.notes.iter().map(|n| format!("note: {n}")));
    let text = format!(
        "{}{}",
        init::project_section(detected, &adopted.series),
        adopt::environment_toml(&args.env, &login, &adopted)
    );
    Ok((text, said))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_specs() {
        let ok = |s: &str| parse_host(s).unwrap_or_else(|_| panic!("{s}"));
        assert_eq!(
            ok("odoo@erp.example.com"),
            (Some("odoo".to_owned()), "erp.example.com".to_owned(), None)
        );
        assert_eq!(
            ok("odoo@127.0.0.2:2222"),
            (Some("odoo".to_owned()), "127.0.0.2".to_owned(), Some(2222))
        );
        assert_eq!(ok("[::1]:22"), (None, "::1".to_owned(), Some(22)));
        for bad in [
            "@host",
            "odoo@host:port",
            "odoo@ho st",
            "odoo@$(x)",
            "a;b@host",
            "",
        ] {
            assert!(parse_host(bad).is_err(), "{bad}");
        }
    }
}
