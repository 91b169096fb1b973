//! The portable dump of the database and its filestore, verified (optionally restored
//! into a scratch database as a test), for disaster recovery. Nothing to undo: it is
//! kept, and pruned by retention.

use async_trait::async_trait;

use super::{Failure, OnResume, Phase, Run};
use crate::backup::{Backups, DumpOptions};
use crate::plan::StepKind;
use crate::target::Target;

/// Dumps the database and its filestore to the backup folder.
#[derive(Debug, Clone)]
pub struct Dump {
    db: String,
    dir: std::path::PathBuf,
}

impl Dump {
    /// The dump of `t`'s database.
    pub fn new(t: &Target) -> Self {
        Self {
            db: t.db.name.clone(),
            dir: t.backup_dir.clone(),
        }
    }
}

#[async_trait]
impl Phase for Dump {
    fn kind(&self) -> StepKind {
        StepKind::Dump
    }
    fn title(&self) -> String {
        format!(
            "dump {} and its filestore to {} (portable), verified",
            self.db,
            self.dir.display()
        )
    }
    fn odoo_down(&self) -> bool {
        true
    }
    fn on_resume(&self) -> OnResume {
        OnResume::Skip
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let t = run.ctx.target;
        let target = t.backup_target(run.plan.previous_commit.as_deref());
        let opts = DumpOptions {
            restore_test: t.restore_test,
            ..DumpOptions::default()
        };
        let meta = Backups::new(run.ctx.transport.as_ref(), &target)
            .dump(&opts)
            .await
            .map_err(|e| Failure::new(self.kind(), e.to_string()))?;
        run.progress.backups.push(meta.id);
        Ok(())
    }
}
