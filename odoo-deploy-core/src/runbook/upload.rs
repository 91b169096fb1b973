//! The commit, as a release directory on the host: `git archive` of the commit (with its
//! submodules at their pinned commits) built here, streamed there, unpacked. Its undo is
//! the removal of the release once a rollback ended (by the rollback executor).

use async_trait::async_trait;

use super::{Failure, OnResume, Phase, Run};
use crate::command::RemoteCommand;
use crate::git::Git;
use crate::plan::StepKind;
use crate::target::Target;
use crate::transport::TransportError;

/// Uploads the commit as release `release`.
#[derive(Debug, Clone)]
pub struct Upload {
    release: String,
    commands: Vec<RemoteCommand>,
    /// The compose strategy's image for this commit, found or pulled on the host and
    /// named in the release's override file.
    image: Option<String>,
}

impl Upload {
    /// Release `release` of `t`, made of `commit`.
    pub fn new(t: &Target, release: &str, commit: &str) -> Self {
        let layout = &t.layout;
        let mut commands = vec![
            RemoteCommand::new("mkdir")
                .arg("-p")
                .arg("--")
                .arg(layout.releases()),
        ];
        commands.extend(layout.unpack(release));
        let image = crate::compose::release_image(t, commit, release).map(|(reference, cmds)| {
            commands.extend(cmds);
            reference
        });
        Self {
            release: release.to_owned(),
            commands,
            image,
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
    fn on_resume(&self) -> OnResume {
        OnResume::Skip
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        upload(run, &self.commands)
            .await
            .map_err(|e| Failure::new(self.kind(), e.to_string()))
    }
}

/// `git archive` of the commit on this machine, with its submodules at their pinned
/// commits, streamed to the host, unpacked into the release directory.
async fn upload(run: &Run<'_, '_>, commands: &[RemoteCommand]) -> Result<(), TransportError> {
    let ctx = run.ctx;
    let plan = run.plan;
    let git = Git::new(ctx.root);
    // Private and unpredictable: a name another local user could guess (and plant a
    // link at) would let them overwrite files or swap the code deployed.
    let dir =
        crate::transport::local::scratch_dir("release").map_err(|source| TransportError::Io {
            host: "local".to_owned(),
            context: "creating a private temporary directory".to_owned(),
            source,
        })?;
    let archive = dir.path().join("release.tar");
    let result = async {
        crate::archive::build(&git, ctx.local, &plan.commit, &archive, dir.path()).await?;
        let layout = &ctx.target.layout;
        ctx.transport.mkdir_p(&layout.releases()).await?;
        let mut file =
            tokio::fs::File::open(&archive)
                .await
                .map_err(|source| TransportError::Io {
                    host: "local".to_owned(),
                    context: format!("opening {}", archive.display()),
                    source,
                })?;
        ctx.transport
            .upload(&mut file, &layout.incoming(&plan.release))
            .await?;
        // The step's commands: mkdir releases, mkdir the release, tar -x, rm the archive.
        run.run_all(commands).await
    }
    .await;
    drop(dir);
    result
}
