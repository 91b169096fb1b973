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
    /// In a fleet, the stop of each other host, by name.
    others: Vec<(String, Vec<RemoteCommand>)>,
}

fn others(t: &Target) -> Vec<(String, Vec<RemoteCommand>)> {
    t.fleet
        .iter()
        .map(|h| (h.name.clone(), vec![h.service.stop()]))
        .collect()
}

impl Stop {
    /// The deploy's stop.
    pub fn new(t: &Target) -> Self {
        Self {
            command: t.service.stop(),
            in_deploy: true,
            others: others(t),
        }
    }

    /// The rollback's stop.
    pub fn rollback(t: &Target) -> Self {
        Self {
            command: t.service.stop(),
            in_deploy: false,
            others: others(t),
        }
    }
}

#[async_trait]
impl Phase for Stop {
    fn kind(&self) -> StepKind {
        StepKind::Stop
    }
    fn title(&self) -> String {
        crate::fleet::title("stop Odoo", &self.others)
    }
    fn commands(&self) -> Vec<RemoteCommand> {
        vec![self.command.clone()]
    }
    fn fleet_commands(&self) -> Vec<(String, Vec<RemoteCommand>)> {
        self.others.clone()
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let fail = |e: &dyn std::fmt::Display| Failure::new(self.kind(), e.to_string());
        // A fleet: every host must answer before any is stopped (a host that does not
        // refuses the deploy with nothing changed).
        if self.in_deploy && !run.ctx.fleet.is_empty() {
            let silent = super::on_fleet(run.ctx, |_| vec![crate::fleet::probe()]).await;
            if !silent.is_empty() {
                return Err(fail(&format!(
                    "not every host answers, nothing was stopped: {}",
                    crate::fleet::failed(&silent)
                )));
            }
        }
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
        // Every host at once: no worker may run old code against the new schema.
        let ctx = run.ctx;
        let commands = self.commands();
        let (mine, theirs) = tokio::join!(
            super::run_all(ctx, &commands),
            super::on_fleet(ctx, |h| vec![h.service.stop()])
        );
        mine.map_err(|e| fail(&e))?;
        super::fleet_outcome(run, self.kind(), &theirs)
    }
}
