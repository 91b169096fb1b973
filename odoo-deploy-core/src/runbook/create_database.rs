//! A first install's empty database, and its undo: the new database (and its filestore)
//! renamed aside for forensics.

use async_trait::async_trait;

use super::{Failure, OnResume, Phase, Run};
use crate::backup::derived_name;
use crate::clock;
use crate::command::RemoteCommand;
use crate::plan::StepKind;
use crate::target::Target;
use crate::transport::TransportError;

/// Creates the empty database of a first install.
#[derive(Debug, Clone)]
pub struct CreateDatabase {
    db: String,
    command: RemoteCommand,
}

impl CreateDatabase {
    /// `t`'s database, created empty.
    pub fn new(t: &Target) -> Self {
        Self {
            db: t.db.name.clone(),
            command: t.pg.create_empty_database(&t.db, &t.db.name),
        }
    }
}

#[async_trait]
impl Phase for CreateDatabase {
    fn kind(&self) -> StepKind {
        StepKind::CreateDatabase
    }
    fn title(&self) -> String {
        format!("create the empty database {} (first install)", self.db)
    }
    fn commands(&self) -> Vec<RemoteCommand> {
        vec![self.command.clone()]
    }
    fn on_resume(&self) -> OnResume {
        OnResume::Skip
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        run.run_all(&self.commands())
            .await
            .map_err(|e| Failure::new(self.kind(), e.to_string()))?;
        run.progress.created_database = true;
        Ok(())
    }
}

/// The rollback's step for a first install: the new database is renamed aside.
#[derive(Debug, Clone)]
pub struct SetAsideDatabase {
    db: String,
}

impl SetAsideDatabase {
    /// `t`'s database.
    pub fn new(t: &Target) -> Self {
        Self {
            db: t.db.name.clone(),
        }
    }
}

#[async_trait]
impl Phase for SetAsideDatabase {
    fn kind(&self) -> StepKind {
        StepKind::SetAsideDatabase
    }
    fn title(&self) -> String {
        format!(
            "rename the new database {} aside ({}) for forensics",
            self.db,
            derived_name(&self.db, "failed", "<stamp>")
        )
    }
    fn odoo_down(&self) -> bool {
        true
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        if run.progress.created_database || run.progress.updated {
            set_aside(run)
                .await
                .map_err(|e| Failure::new(self.kind(), e.to_string()))
        } else {
            Ok(())
        }
    }
}

/// A failed first install: the new database is renamed aside (and its filestore), kept
/// for forensics.
async fn set_aside(run: &Run<'_, '_>) -> Result<(), TransportError> {
    let t = run.ctx.target;
    let transport = run.ctx.transport.as_ref();
    let stamp = crate::release::release_id(clock::now_unix(), "");
    let stamp = stamp.trim_end_matches('-');
    let aside = derived_name(&t.db.name, "failed", stamp);
    let cmd = t.pg.psql(
        &t.db,
        crate::backup::commands::MAINTENANCE_DB,
        &[("cur", t.db.name.as_str()), ("aside", aside.as_str())],
        SET_ASIDE_SQL,
    );
    transport.check_output(&cmd).await?;
    let filestore = t.data_dir.join("filestore").join(&t.db.name);
    if transport.exists(&filestore).await? {
        transport
            .rename(&filestore, &t.data_dir.join("filestore").join(&aside))
            .await?;
    }
    Ok(())
}

const SET_ASIDE_SQL: &str = r#"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE datname = :'cur' AND pid <> pg_backend_pid() \gset
ALTER DATABASE :"cur" RENAME TO :"aside";
"#;
