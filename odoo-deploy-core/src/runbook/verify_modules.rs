//! After the update: no module left `to …`, installed versions equal the manifests,
//! required modules installed. Nothing to undo (it reads only).

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{Failure, Phase, Run};
use crate::odoo::check_module_states;
use crate::plan::StepKind;
use crate::state;

/// Checks the module states the update left.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyModules;

#[async_trait]
impl Phase for VerifyModules {
    fn kind(&self) -> StepKind {
        StepKind::VerifyModules
    }
    fn title(&self) -> String {
        "no module left `to …`, installed versions equal the manifests, required modules installed"
            .to_owned()
    }
    fn odoo_down(&self) -> bool {
        true
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        check(run.ctx, &run.plan.update.install).await
    }
}

/// The check of the module states of `ctx`'s database after an update that installed
/// `install`.
pub(crate) async fn check(
    ctx: &crate::deploy::DeployContext<'_>,
    install: &std::collections::BTreeSet<String>,
) -> Result<(), Failure> {
    let kind = StepKind::VerifyModules;
    {
        let t = ctx.target;
        let db = state::read_db(ctx.transport.as_ref(), &t.pg, &t.db)
            .await
            .map_err(|e| Failure::new(kind, e.to_string()))?;
        let versions: BTreeMap<String, String> = ctx
            .code
            .modules
            .iter()
            .filter_map(|(name, m)| m.version.clone().map(|v| (name.clone(), v)))
            .collect();
        let mut required = t.required.clone();
        required.extend(install.iter().cloned());
        let problems = check_module_states(&db.modules, &versions, &required, &t.series);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Failure::new(
                kind,
                format!("{} module problem(s) after the update", problems.len()),
            )
            .with_evidence(problems.iter().map(ToString::to_string).collect()))
        }
    }
}
