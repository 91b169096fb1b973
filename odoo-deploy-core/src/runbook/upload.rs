//! The commit, as a release directory on the host: `git archive` of the commit (with its
//! submodules at their pinned commits) built here, streamed there, unpacked. Its undo is
//! the removal of the release once a rollback ended (by the rollback executor).

use async_trait::async_trait;

use super::{Failure, OnResume, Phase, Run};
use crate::command::RemoteCommand;
use crate::git::Git;
use crate::plan::StepKind;
use std::path::Path;

use crate::release::Layout;
use crate::target::Target;
use crate::transport::{Transport, TransportError};

/// Uploads the commit as release `release`.
#[derive(Debug, Clone)]
pub struct Upload {
    release: String,
    commands: Vec<RemoteCommand>,
    /// The compose strategy's image for this commit, found or pulled on the host and
    /// named in the release's override file.
    image: Option<String>,
    /// In a fleet, the same on each other host (its own layout), by host name.
    others: Vec<(String, Vec<RemoteCommand>)>,
}

impl Upload {
    /// Release `release` of `t`, made of `commit`.
    pub fn new(t: &Target, release: &str, commit: &str) -> Self {
        let mut commands = release_commands(&t.layout, release);
        let image = crate::compose::release_image(t, commit, release).map(|(reference, cmds)| {
            commands.extend(cmds);
            reference
        });
        let others = t
            .fleet
            .iter()
            .map(|h| (h.name.clone(), release_commands(&h.layout, release)))
            .collect();
        Self {
            release: release.to_owned(),
            commands,
            image,
            others,
        }
    }
}

#[async_trait]
impl Phase for Upload {
    fn kind(&self) -> StepKind {
        StepKind::Upload
    }
    fn title(&self) -> String {
        match &self.image {
            Some(reference) => format!(
                "upload the commit as release {} (git archive, streamed); find or pull image {reference} and name it in the release's {}",
                self.release,
                crate::compose::IMAGE_FILE
            ),
            None => format!(
                "upload the commit as release {} (git archive, streamed)",
                self.release
            ),
        }
    }
    fn commands(&self) -> Vec<RemoteCommand> {
        self.commands.clone()
    }
    fn fleet_commands(&self) -> Vec<(String, Vec<RemoteCommand>)> {
        self.others.clone()
    }
    fn on_resume(&self) -> OnResume {
        OnResume::Skip
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        upload(run, &self.commands, &self.others)
            .await
            .map_err(|e| Failure::new(self.kind(), e))
    }
}

/// mkdir the releases folder, then unpack the uploaded archive into the release.
fn release_commands(layout: &Layout, release: &str) -> Vec<RemoteCommand> {
    let mut commands = vec![
        RemoteCommand::new("mkdir")
            .arg("-p")
            .arg("--")
            .arg(layout.releases()),
    ];
    commands.extend(layout.unpack(release));
    commands
}

/// Streams `archive` to one host as release `release` of `layout`, then runs its
/// commands there.
async fn send(
    ctx: &crate::deploy::DeployContext<'_>,
    transport: &dyn Transport,
    host: &str,
    layout: &Layout,
    release: &str,
    archive: &Path,
    commands: &[RemoteCommand],
) -> Result<(), TransportError> {
    transport.mkdir_p(&layout.releases()).await?;
    let mut file = tokio::fs::File::open(archive)
        .await
        .map_err(|source| TransportError::Io {
            host: "local".to_owned(),
            context: format!("opening {}", archive.display()),
            source,
        })?;
    transport
        .upload(&mut file, &layout.incoming(release))
        .await?;
    let sink = super::Forward { ctx, host };
    for cmd in commands {
        transport.check(cmd, &sink).await?;
    }
    Ok(())
}

/// `git archive` of the commit on this machine, with its submodules at their pinned
/// commits, streamed to the host, unpacked into the release directory.
async fn upload(
    run: &Run<'_, '_>,
    commands: &[RemoteCommand],
    others: &[(String, Vec<RemoteCommand>)],
) -> Result<(), String> {
    let ctx = run.ctx;
    let plan = run.plan;
    let git = Git::new(ctx.root);
    // Private and unpredictable: a name another local user could guess (and plant a
    // link at) would let them overwrite files or swap the code deployed.
    let dir = crate::transport::local::scratch_dir("release")
        .map_err(|source| TransportError::Io {
            host: "local".to_owned(),
            context: "creating a private temporary directory".to_owned(),
            source,
        })
        .map_err(|e| e.to_string())?;
    let archive = dir.path().join("release.tar");
    let result = async {
        crate::archive::build(&git, ctx.local, &plan.commit, &archive, dir.path())
            .await
            .map_err(|e| e.to_string())?;
        // The step's commands: mkdir releases, mkdir the release, tar -x, rm the archive
        // — on every host at once, each through its own connection.
        let t = ctx.target;
        let mine = send(
            ctx,
            ctx.transport.as_ref(),
            &t.host,
            &t.layout,
            &plan.release,
            &archive,
            commands,
        );
        let theirs = crate::fleet::join_all(
            ctx.fleet
                .iter()
                .map(|m| {
                    let list = others
                        .iter()
                        .find(|(name, _)| *name == m.host.name)
                        .map_or(&[][..], |(_, l)| l.as_slice());
                    let archive = &archive;
                    async move {
                        send(
                            ctx,
                            m.transport.as_ref(),
                            &m.host.name,
                            &m.host.layout,
                            &plan.release,
                            archive,
                            list,
                        )
                        .await
                        .map_err(|e| (m, e.to_string()))
                    }
                })
                .collect(),
        );
        let (mine, theirs) = tokio::join!(mine, theirs);
        mine.map_err(|e| e.to_string())?;
        let failed: Vec<(&crate::fleet::Member, String)> =
            theirs.into_iter().filter_map(Result::err).collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!("on {}", crate::fleet::failed(&failed)))
        }
    }
    .await;
    drop(dir);
    result
}
