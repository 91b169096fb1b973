//! Starting Odoo (in the deploy and in its rollback), marking first where its startup
//! log stands so that [`super::startup_log`] reads only this start.

use async_trait::async_trait;

use super::{Failure, Phase, Run};
use crate::command::RemoteCommand;
use crate::plan::StepKind;
use crate::target::Target;

/// Starts Odoo.
#[derive(Debug, Clone)]
pub struct Start {
    command: RemoteCommand,
    /// In a fleet, the start of each other host, by name.
    others: Vec<(String, Vec<RemoteCommand>)>,
}

impl Start {
    /// `t`'s service started.
    pub fn new(t: &Target) -> Self {
        Self {
            command: t.service.start(),
            others: t
                .fleet
                .iter()
                .map(|h| (h.name.clone(), vec![h.service.start()]))
                .collect(),
        }
    }
}

#[async_trait]
impl Phase for Start {
    fn kind(&self) -> StepKind {
        StepKind::Start
    }
    fn title(&self) -> String {
        crate::fleet::title("start Odoo", &self.others)
    }
    fn commands(&self) -> Vec<RemoteCommand> {
        vec![self.command.clone()]
    }
    fn fleet_commands(&self) -> Vec<(String, Vec<RemoteCommand>)> {
        self.others.clone()
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let ctx = run.ctx;
        let t = ctx.target;
        if let Some(log) = &t.startup_log {
            run.progress.log_mark = Some(log.mark(ctx.transport.as_ref()).await);
        }
        let lost = run.progress.lost.clone();
        let commands = self.commands();
        let (mine, theirs) = tokio::join!(
            super::run_all(ctx, &commands),
            // A host the rollback could not reach before is not tried again.
            super::on_fleet(ctx, |h| if lost.contains_key(&h.label()) {
                Vec::new()
            } else {
                vec![h.service.start()]
            })
        );
        mine.map_err(|e| Failure::new(self.kind(), e.to_string()))?;
        super::fleet_outcome(run, self.kind(), &theirs)
    }
}
