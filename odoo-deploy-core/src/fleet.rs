//! An environment of several hosts (`[[environments.NAME.hosts]]`): web, cron and worker
//! hosts on one database and one shared filestore, exactly one of them running the
//! update.
//!
//! The update host is the [`Target`] itself (its transport is
//! [`crate::deploy::DeployContext::transport`]; the ledger, lock, journal and backups
//! live there); the other hosts are [`FleetHost`]s beside it, each reached through a
//! transport of its own ([`Member`]). The per-host phases — upload, stop, switch, start,
//! health, and their rollback counterparts — run on every host at once; the update runs
//! once. Before a deploy, the plan's gates check that every host answers and that the
//! filestore is the same on every host ([`filestore_gate`]).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use crate::command::RemoteCommand;
use crate::config::{Environment, FilestoreSharing, HostConfig, OBJECT_STORAGE_MODULES, Role};
use crate::plan::Gate;
use crate::release::Layout;
use crate::service::Service;
use crate::state::DbState;
use crate::target::Target;
use crate::transport::{Transport, TransportError};

pub use crate::config::FleetHostConfig;

/// One host of a fleet, resolved from its `[[hosts]]` table and the environment's
/// defaults.
#[derive(Debug, Clone)]
pub struct FleetHost {
    /// Its name (`web1`).
    pub name: String,
    /// Its address, as SSH reaches it.
    pub address: String,
    /// What it does.
    pub roles: Vec<Role>,
    /// How it is reached.
    pub ssh: HostConfig,
    /// Its releases and `current`.
    pub layout: Layout,
    /// Where it mounts the shared `data_dir`.
    pub data_dir: PathBuf,
    /// How Odoo is stopped and started there.
    pub service: Service,
    /// Where its health page is read (`None`: a cron or worker host without a URL of its
    /// own, checked by its service's status command).
    pub base_url: Option<String>,
}

impl FleetHost {
    /// Host `h` of environment `env`.
    pub fn resolve(env: &Environment, h: &FleetHostConfig) -> Self {
        let roles = h.roles.get_ref().clone();
        let base_url = h
            .base_url
            .as_ref()
            .map(|u| u.get_ref().clone())
            .or_else(|| {
                roles
                    .contains(&Role::Web)
                    .then(|| env.http.base_url.get_ref().clone())
            });
        Self {
            name: h.name.get_ref().clone(),
            address: h.address.clone(),
            roles,
            ssh: h.ssh(),
            layout: Layout::new(
                h.deploy_dir
                    .clone()
                    .unwrap_or_else(|| env.odoo.deploy_dir.clone()),
            ),
            data_dir: h
                .data_dir
                .clone()
                .unwrap_or_else(|| env.odoo.data_dir.clone()),
            service: Service::from_config(h.service.as_ref().unwrap_or(&env.service).get_ref()),
            base_url,
        }
    }

    /// `web1 (10.0.0.11)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.address)
    }

    /// Its roles, comma-separated.
    pub fn roles_text(&self) -> String {
        self.roles
            .iter()
            .map(|r| r.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The update host and the others, of an environment with `hosts` (none without).
pub fn resolve(env: &Environment) -> Option<(FleetHost, Vec<FleetHost>)> {
    let update = env.hosts.iter().find(|h| h.get_ref().has(Role::Update))?;
    let others = env
        .hosts
        .iter()
        .filter(|h| !h.get_ref().has(Role::Update))
        .map(|h| FleetHost::resolve(env, h.get_ref()))
        .collect();
    Some((FleetHost::resolve(env, update.get_ref()), others))
}

/// A host of the fleet other than the update host, with its connection.
#[derive(Debug, Clone)]
pub struct Member {
    /// The host.
    pub host: FleetHost,
    /// Its own SSH master.
    pub transport: Arc<dyn Transport>,
}

/// A per-host phase's title: `what`, and with other hosts, that it runs on every host at
/// once, naming them.
pub(crate) fn title(what: &str, others: &[(String, Vec<RemoteCommand>)]) -> String {
    if others.is_empty() {
        return what.to_owned();
    }
    let names: Vec<&str> = others.iter().map(|(n, _)| n.as_str()).collect();
    format!(
        "{what} on every host at once (the update host, {})",
        names.join(", ")
    )
}

/// Runs every future at once on this task; their outputs in the same order.
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut running: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = running.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, out) in running.iter_mut().zip(done.iter_mut()) {
            if out.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

/// Runs `f` on every member at once; the members whose run failed, with why.
pub async fn on_each<'m, F, Fut>(members: &'m [Member], f: F) -> Vec<(&'m Member, String)>
where
    F: Fn(&'m Member) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let results = join_all(members.iter().map(&f).collect()).await;
    members
        .iter()
        .zip(results)
        .filter_map(|(m, r)| r.err().map(|why| (m, why)))
        .collect()
}

/// The message of a host's failure: `web2 (10.0.0.12): why`.
pub fn failed(failures: &[(&Member, String)]) -> String {
    failures
        .iter()
        .map(|(m, why)| format!("{}: {why}", m.host.label()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `true`, run on a host to see that it answers.
pub fn probe() -> RemoteCommand {
    RemoteCommand::new("true")
}

/// The plan's `hosts` gate: every host was reached (`unreachable`: the hosts that were
/// not, with why).
pub fn reach_gate(target: &Target, unreachable: &[(String, String)]) -> Option<Gate> {
    let update = target.fleet_update.as_ref()?;
    let count = target.fleet.len() + 1;
    Some(Gate {
        name: "hosts".to_owned(),
        passed: unreachable.is_empty(),
        detail: if unreachable.is_empty() {
            format!("all {count} hosts answer (update on {})", update.label())
        } else {
            format!(
                "{} of {count} hosts cannot be reached: {} — nothing is stopped on any host until every host answers",
                unreachable.len(),
                unreachable
                    .iter()
                    .map(|(host, why)| format!("{host}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        },
        overridden: None,
    })
}

/// Lists the database's filestore on a host: its digest (paths and sizes, sorted) on
/// one line and its number of files on the next, or `missing` when there is none.
pub fn filestore_listing(data_dir: &std::path::Path, db: &str) -> RemoteCommand {
    RemoteCommand::new("sh")
        .arg("-c")
        .arg(
            "cd \"$1\" 2>/dev/null || { echo missing; exit 0; }; \
             find . -type f -printf '%P\\t%s\\n' | LC_ALL=C sort | sha256sum | cut -d' ' -f1; \
             find . -type f | wc -l",
        )
        .arg("sh")
        .arg(data_dir.join("filestore").join(db))
}

/// What [`filestore_listing`] printed: `None` for no filestore, else (digest, files).
pub fn parse_listing(out: &[u8]) -> Option<(String, u64)> {
    let text = String::from_utf8_lossy(out);
    let mut lines = text.lines();
    let first = lines.next()?.trim();
    if first == "missing" {
        return None;
    }
    let files = lines.next()?.trim().parse().ok()?;
    Some((first.to_owned(), files))
}

/// The plan's `filestore` gate: with `filestore = "shared"`, the database's filestore
/// must list the same files (paths and sizes) on every host that answers; with
/// `"object_storage"`, a module that stores attachments outside it must be installed.
pub async fn filestore_gate(
    target: &Target,
    sharing: FilestoreSharing,
    transport: &dyn Transport,
    members: &[Member],
    db: &DbState,
) -> Option<Gate> {
    let update = target.fleet_update.as_ref()?;
    let gate = |passed: bool, detail: String| {
        Some(Gate {
            name: "filestore".to_owned(),
            passed,
            detail,
            overridden: None,
        })
    };
    if sharing == FilestoreSharing::ObjectStorage {
        let found = db
            .modules
            .iter()
            .find(|m| m.state == "installed" && OBJECT_STORAGE_MODULES.contains(&m.name.as_str()));
        return match found {
            Some(m) => gate(
                true,
                format!("attachments in object storage ({} installed)", m.name),
            ),
            None => gate(
                false,
                format!(
                    "filestore = \"object_storage\" but none of {} is installed in {}: each host would keep its own attachments",
                    OBJECT_STORAGE_MODULES.join(", "),
                    target.db.name
                ),
            ),
        };
    }
    let name = &target.db.name;
    async fn list(
        t: &dyn Transport,
        data_dir: PathBuf,
        name: &str,
    ) -> Result<Option<(String, u64)>, String> {
        let cmd = filestore_listing(&data_dir, name);
        t.check_output(&cmd)
            .await
            .map(|out| parse_listing(&out))
            .map_err(|e: TransportError| e.to_string())
    }
    let mine = list(transport, target.data_dir.clone(), name).await;
    let theirs = join_all(
        members
            .iter()
            .map(|m| list(m.transport.as_ref(), m.host.data_dir.clone(), name))
            .collect(),
    )
    .await;
    let show = |r: &Result<Option<(String, u64)>, String>| match r {
        Ok(Some((digest, files))) => {
            format!(
                "{files} file(s), listing {}",
                digest.get(..12).unwrap_or(digest)
            )
        }
        Ok(None) => "no filestore".to_owned(),
        Err(e) => format!("not read ({e})"),
    };
    let mut lines = vec![format!("{} {}", update.name, show(&mine))];
    let mut differ = false;
    let mut unread = false;
    for (m, r) in members.iter().zip(&theirs) {
        lines.push(format!("{} {}", m.host.name, show(r)));
        match (r, &mine) {
            (Err(_), _) | (_, Err(_)) => unread = true,
            (Ok(a), Ok(b)) if a != b => differ = true,
            _ => {}
        }
    }
    let all = lines.join(", ");
    if differ {
        return gate(
            false,
            format!(
                "the filestore of {name} is not the same on every host ({all}): attachments written on one host would be missing on the others — mount one shared storage at data_dir on every host, or keep attachments in object storage (filestore = \"object_storage\" with fs_attachment)"
            ),
        );
    }
    if unread {
        return gate(
            false,
            format!("the filestore of {name} could not be compared ({all})"),
        );
    }
    match mine {
        Ok(Some((_, files))) if files > 0 => gate(
            true,
            format!("the filestore of {name} is the same on every host ({files} file(s))"),
        ),
        _ => gate(
            true,
            format!(
                "no file in the filestore of {name} yet on any host: nothing to compare; every host must mount the same storage at data_dir"
            ),
        ),
    }
}

/// Where each host stands: its name, address, roles and the release `current` points to
/// (`Err`: it could not be read).
#[derive(Debug, Clone, serde::Serialize)]
pub struct HostRelease {
    /// Its name.
    pub name: String,
    /// Its address.
    pub address: String,
    /// Its roles.
    pub roles: Vec<Role>,
    /// The release `current` points to (none: nothing deployed there yet).
    pub release: Option<String>,
    /// Why it could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Reads every host's `current` (the update host's through `transport`); `unreachable`
/// hosts (not connected) are listed with why.
pub async fn releases(
    target: &Target,
    transport: &dyn Transport,
    members: &[Member],
    unreachable: &[(String, String)],
) -> Vec<HostRelease> {
    let Some(update) = &target.fleet_update else {
        return Vec::new();
    };
    async fn read(host: &FleetHost, t: &dyn Transport) -> HostRelease {
        let (host, layout) = (host.clone(), host.layout.clone());
        {
            let r = crate::state::current_release(t, &layout).await;
            HostRelease {
                name: host.name,
                address: host.address,
                roles: host.roles,
                release: r.as_ref().ok().cloned().flatten(),
                error: r.err().map(|e| e.to_string()),
            }
        }
    }
    let mut all = vec![read(update, transport).await];
    all.extend(
        join_all(
            members
                .iter()
                .map(|m| read(&m.host, m.transport.as_ref()))
                .collect(),
        )
        .await,
    );
    for host in &target.fleet {
        if let Some((_, why)) = unreachable.iter().find(|(n, _)| *n == host.label()) {
            all.push(HostRelease {
                name: host.name.clone(),
                address: host.address.clone(),
                roles: host.roles.clone(),
                release: None,
                error: Some(why.clone()),
            });
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_parse() {
        assert_eq!(parse_listing(b"missing\n"), None);
        assert_eq!(
            parse_listing(b"abc123\n4\n"),
            Some(("abc123".to_owned(), 4))
        );
        assert_eq!(parse_listing(b""), None);
    }

    #[test]
    fn the_listing_names_the_folder_as_an_argument_never_in_the_script() {
        let cmd = filestore_listing(std::path::Path::new("/srv/da ta; rm -rf ~"), "a$(b)'c");
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(args.len(), 4, "{args:?}");
        assert_eq!(args[0], "-c");
        assert!(
            !args[1].to_string_lossy().contains("da ta"),
            "the script is constant"
        );
        assert_eq!(args[3], "/srv/da ta; rm -rf ~/filestore/a$(b)'c");
    }

    #[tokio::test]
    async fn join_all_keeps_the_order() {
        let out = join_all(vec![
            Box::pin(async { 1 }) as Pin<Box<dyn Future<Output = i32> + Send>>,
            Box::pin(async {
                tokio::task::yield_now().await;
                2
            }),
            Box::pin(async { 3 }),
        ])
        .await;
        assert_eq!(out, vec![1, 2, 3]);
    }
}
