//! The pre-deploy snapshot (a template copy of the database, a hard-linked copy of its
//! filestore, verified), and its undo: the rollback's swap of the snapshot back in.

use async_trait::async_trait;

use super::{Failure, OnResume, Phase, Progress, Run};
use crate::backup::commands::hardlink_copy;
use crate::backup::{BackupError, Backups, derived_name};
use crate::command::RemoteCommand;
use crate::plan::StepKind;
use crate::target::Target;

/// Snapshots the database and its filestore while Odoo is stopped.
#[derive(Debug, Clone)]
pub struct Snapshot {
    db: String,
    commands: Vec<RemoteCommand>,
}

impl Snapshot {
    /// The snapshot of `t`'s database.
    pub fn new(t: &Target) -> Self {
        let db = &t.db.name;
        let filestore = t.data_dir.join("filestore").join(db);
        let snap = derived_name(db, "snap", "<stamp>");
        let snap_fs = t.data_dir.join("filestore").join(&snap);
        Self {
            db: db.clone(),
            commands: vec![
                t.pg.copy_database(&t.db, db, &snap),
                hardlink_copy(&filestore, &snap_fs),
            ],
        }
    }
}

#[async_trait]
impl Phase for Snapshot {
    fn kind(&self) -> StepKind {
        StepKind::Snapshot
    }
    fn title(&self) -> String {
        format!(
            "snapshot {} and its filestore (template copy + hard links), verified by row and file counts",
            self.db
        )
    }
    fn commands(&self) -> Vec<RemoteCommand> {
        self.commands.clone()
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
        let meta = Backups::new(run.ctx.transport.as_ref(), &target)
            .snapshot()
            .await
            .map_err(|e| Failure::new(self.kind(), e.to_string()))?;
        run.progress.backups.push(meta.id.clone());
        run.progress.snapshot = Some(meta.id);
        Ok(())
    }
    /// The snapshot's id: a recovery reads it from the journal.
    fn journal_detail(&self, progress: &Progress) -> Option<String> {
        progress.snapshot.clone()
    }
}

/// The rollback's step undoing the update: the snapshot swapped in for the database and
/// its filestore, the failed ones kept.
#[derive(Debug, Clone)]
pub struct RestoreSnapshot {
    db: String,
    command: RemoteCommand,
}

impl RestoreSnapshot {
    /// The restore of `t`'s database.
    pub fn new(t: &Target) -> Self {
        let db = &t.db.name;
        Self {
            db: db.clone(),
            command: t.pg.swap_databases(
                &t.db,
                db,
                &derived_name(db, "snap", "<stamp>"),
                &derived_name(db, "replaced", "<stamp>"),
            ),
        }
    }
}

#[async_trait]
impl Phase for RestoreSnapshot {
    fn kind(&self) -> StepKind {
        StepKind::RestoreSnapshot
    }
    fn title(&self) -> String {
        format!(
            "swap the pre-deploy snapshot in for {} and its filestore; the failed ones are kept as {}",
            self.db,
            derived_name(&self.db, "replaced", "<stamp>")
        )
    }
    fn commands(&self) -> Vec<RemoteCommand> {
        vec![self.command.clone()]
    }
    fn odoo_down(&self) -> bool {
        true
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let fail = |e: &dyn std::fmt::Display| Failure::new(self.kind(), e.to_string());
        match run.progress.snapshot.clone() {
            // The database changed only if the update ran; restore regardless once a
            // snapshot exists, so a half-started step cannot leave a mixed state.
            Some(id) => {
                let t = run.ctx.target;
                let target = t.backup_target(run.plan.previous_commit.as_deref());
                let report = Backups::new(run.ctx.transport.as_ref(), &target)
                    .restore_once(&id)
                    .await
                    .map_err(|e: BackupError| fail(&e))?;
                if let Some(replaced) = report.replaced {
                    run.progress.backups.push(replaced);
                }
                Ok(())
            }
            None if run.progress.updated => Err(fail(&"the update ran without a snapshot")),
            None => Ok(()),
        }
    }
}
