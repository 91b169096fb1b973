//! The atomic `current` switch to the new release, and its undo: the switch back to the
//! previous release (or, on a first deploy, the new release removed and Odoo left
//! stopped).

use std::path::Path;

use async_trait::async_trait;

use super::{Failure, Phase, Run};
use crate::plan::StepKind;
use crate::target::Target;

/// Points `current` at the new release.
#[derive(Debug, Clone)]
pub struct Switch {
    title: String,
}

impl Switch {
    /// `t`'s `current` to `release`.
    pub fn new(t: &Target, release: &str) -> Self {
        Self {
            title: format!(
                "switch {} to release {release}",
                t.layout.current().display()
            ),
        }
    }
}

#[async_trait]
impl Phase for Switch {
    fn kind(&self) -> StepKind {
        StepKind::Switch
    }
    fn title(&self) -> String {
        self.title.clone()
    }
    fn odoo_down(&self) -> bool {
        true
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let t = run.ctx.target;
        run.ctx
            .transport
            .symlink_switch(&t.layout.current(), &t.layout.release(&run.plan.release))
            .await
            .map_err(|e| Failure::new(self.kind(), e.to_string()))?;
        run.progress.switched = true;
        Ok(())
    }
}

/// The rollback's step: `current` back to the previous release.
#[derive(Debug, Clone)]
pub struct SwitchBack {
    title: String,
}

impl SwitchBack {
    /// Back from `release` to `previous` (none: the first deploy).
    pub fn new(t: &Target, release: &str, previous: Option<&str>) -> Self {
        let layout = &t.layout;
        Self {
            title: match previous {
                Some(previous) => format!(
                    "switch {} back to release {previous}",
                    layout.current().display()
                ),
                None => format!(
                    "no previous release: {} is removed and Odoo stays stopped",
                    Path::new(&layout.release(release)).display()
                ),
            },
        }
    }
}

#[async_trait]
impl Phase for SwitchBack {
    fn kind(&self) -> StepKind {
        StepKind::SwitchBack
    }
    fn title(&self) -> String {
        self.title.clone()
    }
    fn odoo_down(&self) -> bool {
        true
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let t = run.ctx.target;
        match &run.plan.previous_release {
            Some(previous) if run.progress.switched => run
                .ctx
                .transport
                .symlink_switch(&t.layout.current(), &t.layout.release(previous))
                .await
                .map_err(|e| Failure::new(self.kind(), e.to_string())),
            _ => Ok(()),
        }
    }
}
