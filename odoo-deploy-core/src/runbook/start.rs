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
}

impl Start {
    /// `t`'s service started.
    pub fn new(t: &Target) -> Self {
        Self {
            command: t.service.start(),
        }
    }
}

#[async_trait]
impl Phase for Start {
    fn kind(&self) -> StepKind {
        StepKind::Start
    }
    fn title(&self) -> String {
        "start Odoo".to_owned()
    }
    fn commands(&self) -> Vec<RemoteCommand> {
        vec![self.command.clone()]
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let t = run.ctx.target;
        if let Some(log) = &t.startup_log {
            run.progress.log_mark = Some(log.mark(run.ctx.transport.as_ref()).await);
        }
        run.run_all(&self.commands())
            .await
            .map_err(|e| Failure::new(self.kind(), e.to_string()))
    }
}
