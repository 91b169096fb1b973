//! Stopping Odoo: in the deploy (after checking that nobody else is updating the
//! database) and first in its rollback.

use async_trait::async_trait;

use super::{Failure, Phase, Run};
use crate::clock;
use crate::command::RemoteCommand;
use crate::plan::StepKind;
use crate::target::Target;

/// Stops Odoo.
#[derive(Debug, Clone)]
pub struct Stop {
    command: RemoteCommand,
    /// The deploy's stop checks the database's update lock first; the rollback's does
    /// not.
    in_deploy: bool,
}

impl Stop {
    /// The deploy's stop.
    pub fn new(t: &Target) -> Self {
        Self {
            command: t.service.stop(),
            in_deploy: true,
        }
    }

    /// The rollback's stop.
    pub fn rollback(t: &Target) -> Self {
        Self {
            command: t.service.stop(),
            in_deploy: false,
        }
    }
}

#[async_trait]
impl Phase for Stop {
    fn kind(&self) -> StepKind {
        StepKind::Stop
    }
    fn title(&self) -> String {
        "stop Odoo".to_owned()
    }
    fn commands(&self) -> Vec<RemoteCommand> {
        vec![self.command.clone()]
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let fail = |e: &dyn std::fmt::Display| Failure::new(self.kind(), e.to_string());
        // Before Odoo goes down: a database someone else is updating (click-odoo-update,
        // another odd) is not touched, and this deploy stops with nothing changed. (The
        // lock is held for real around the update: the snapshot's template copy ends
        // every session on the database, a holder's included.)
        if self.in_deploy
            && run.plan.steps.iter().any(|s| s.kind == StepKind::Update)
            && !run.progress.created_database
        {
            super::update::advisory(run.ctx, run.plan)
                .await
                .map_err(|e| fail(&e))?
                .release()
                .await;
        }
        run.progress
            .stop_at_ms
            .get_or_insert_with(clock::now_unix_ms);
        if self.in_deploy {
            run.progress.stopped = true;
        }
        run.run_all(&self.commands()).await.map_err(|e| fail(&e))
    }
}
