//! The deploy's line in the environment's ledger. The line is written by
//! [`crate::deploy::execute`] when the run begins (`running`) and once the outcome is
//! known; this step marks the point in the runbook (and the crash matrix pauses there).

use async_trait::async_trait;

use super::{Failure, Phase, Run};
use crate::plan::StepKind;

/// Records the deploy (or, in the rollback, the rollback with its reason).
#[derive(Debug, Clone)]
pub struct Record {
    title: String,
}

impl Record {
    /// The deploy's record in `ledger`.
    pub fn new(ledger: &std::path::Path) -> Self {
        Self {
            title: format!("record the deploy in {}", ledger.display()),
        }
    }

    /// The rollback's.
    pub fn rollback() -> Self {
        Self {
            title: "record the rollback with its reason and the failing evidence".to_owned(),
        }
    }
}

#[async_trait]
impl Phase for Record {
    fn kind(&self) -> StepKind {
        StepKind::Record
    }
    fn title(&self) -> String {
        self.title.clone()
    }
    async fn run(&self, _run: &mut Run<'_, '_>) -> Result<(), Failure> {
        Ok(())
    }
}
