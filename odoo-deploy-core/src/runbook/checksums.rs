//! The installed modules' checksums stored in the target database
//! (`ir_config_parameter` `odd.installed_checksums`), so the next deploy compares with
//! them. Undone with the database by the snapshot's restore.

use async_trait::async_trait;

use super::{Failure, Phase, Run};
use crate::ops;
use crate::plan::StepKind;
use crate::state;

/// Stores the checksums of the installed modules.
#[derive(Debug, Clone)]
pub struct StoreChecksums {
    db: String,
}

impl StoreChecksums {
    /// In database `db`.
    pub fn new(db: &str) -> Self {
        Self { db: db.to_owned() }
    }
}

#[async_trait]
impl Phase for StoreChecksums {
    fn kind(&self) -> StepKind {
        StepKind::StoreChecksums
    }
    fn title(&self) -> String {
        format!(
            "store the new module checksums in {} (ir_config_parameter odd.installed_checksums)",
            self.db
        )
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        store(run.ctx)
            .await
            .map_err(|e| Failure::new(self.kind(), e.to_string()))
    }
}

/// Stores the installed modules' checksums in `ctx`'s database.
pub(crate) async fn store(ctx: &crate::deploy::DeployContext<'_>) -> Result<(), ops::OpsError> {
    let t = ctx.target;
    let transport = ctx.transport.as_ref();
    let db = state::read_db(transport, &t.pg, &t.db).await?;
    let json = ops::installed_checksums_json(ctx.code, &db)?;
    transport
        .check_output(&state::set_param_command(
            &t.pg,
            &t.db,
            crate::checksum::ODD_CHECKSUMS_KEY,
            &json,
        ))
        .await?;
    Ok(())
}
