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
        let mut title = format!(
            "switch {} to release {release}",
            t.layout.current().display()
        );
        for h in &t.fleet {
            title.push_str(&format!("; {}: {}", h.name, h.layout.current().display()));
        }
        Self { title }
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
        let ctx = run.ctx;
        let t = ctx.target;
        let release = &run.plan.release;
        let (current, target) = (t.layout.current(), t.layout.release(release));
        let (mine, theirs) = tokio::join!(
            ctx.transport.symlink_switch(&current, &target),
            crate::fleet::on_each(&ctx.fleet, |m| async move {
                m.transport
                    .symlink_switch(&m.host.layout.current(), &m.host.layout.release(release))
                    .await
                    .map_err(|e| e.to_string())
            })
        );
        // Switched somewhere: the rollback switches back wherever it can.
        if mine.is_ok() || !ctx.fleet.is_empty() {
            run.progress.switched = true;
        }
        mine.map_err(|e| Failure::new(self.kind(), e.to_string()))?;
        super::fleet_outcome(run, self.kind(), &theirs)
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
        let others = if t.fleet.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = t.fleet.iter().map(|h| h.name.as_str()).collect();
            format!(
                "; {} back to the release each ran before, where it answers (a host that ran none is left stopped, its `current` removed)",
                names.join(", ")
            )
        };
        let mine = match previous {
            Some(previous) => format!(
                "switch {} back to release {previous}",
                layout.current().display()
            ),
            None => format!(
                "no previous release: {} is removed and Odoo stays stopped",
                Path::new(&layout.release(release)).display()
            ),
        };
        Self {
            title: format!("{mine}{others}"),
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
        let ctx = run.ctx;
        let t = ctx.target;
        let plan = run.plan;
        // Release ids are the same on every host; a plan that did not read the hosts (a
        // resumed deploy's) takes the update host's.
        let previous_of =
            |m: &crate::fleet::Member| match plan.hosts.iter().find(|h| h.name == m.host.name) {
                Some(h) => h.release.clone(),
                None => plan.previous_release.clone(),
            };
        // A host that ran no release before this deploy (one just added) has nothing to
        // go back to: Odoo stays stopped there and its `current` goes with the failed
        // release, so that nothing starts that release over the restored database.
        // A host already lost (its stop not seen) is left as it is.
        let fresh: Vec<crate::fleet::Member> = ctx
            .fleet
            .iter()
            .filter(|m| {
                previous_of(m).is_none() && !run.progress.lost.contains_key(&m.host.label())
            })
            .cloned()
            .collect();
        let release = &plan.release;
        let unlinked = crate::fleet::on_each(&fresh, |m| async move {
            // `rm -rf` removes the link itself, never what it points at.
            let current = m.host.layout.current();
            let cmd = match m.host.layout.remove(release) {
                Ok(cmd) => cmd.arg(current),
                Err(_) => crate::command::RemoteCommand::new("rm")
                    .arg("-f")
                    .arg("--")
                    .arg(current),
            };
            m.transport
                .check_output(&cmd)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await;
        super::fleet_outcome(run, self.kind(), &unlinked)?;
        // Where the update host goes back to a release, the others start on it again:
        // these do not, and the operator is told so.
        if plan.previous_release.is_some() {
            for m in &fresh {
                run.progress.lost.entry(m.host.label()).or_insert_with(|| {
                    "it ran no release before this deploy, so Odoo stays stopped there; its `current` link and the failed release are removed".to_owned()
                });
            }
        }
        if !run.progress.switched {
            return Ok(());
        }
        // Each other host back to the release it ran before (its own, read by the plan).
        let theirs = crate::fleet::on_each(&ctx.fleet, |m| async move {
            match previous_of(m) {
                Some(previous) => m
                    .transport
                    .symlink_switch(&m.host.layout.current(), &m.host.layout.release(&previous))
                    .await
                    .map_err(|e| e.to_string()),
                None => Ok(()),
            }
        })
        .await;
        super::fleet_outcome(run, self.kind(), &theirs)?;
        match &plan.previous_release {
            Some(previous) => ctx
                .transport
                .symlink_switch(&t.layout.current(), &t.layout.release(previous))
                .await
                .map_err(|e| Failure::new(self.kind(), e.to_string())),
            _ => Ok(()),
        }
    }
}
