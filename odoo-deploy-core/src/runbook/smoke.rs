//! The smoke test: the fixed checks (pages, a JSON-RPC login and read) and those of every
//! module installed or reloaded; after a rollback, the fixed checks only (the changed
//! modules' checks are for the new code).

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;

use super::{Failure, Phase, Run};
use crate::http::{CheckError, OdooHttp};
use crate::plan::{Plan, StepKind};
use crate::target::Target;

/// Runs the smoke test.
#[derive(Debug, Clone)]
pub struct Smoke {
    title: String,
    after_rollback: bool,
}

impl Smoke {
    /// The deploy's: the fixed checks and those of the `touched` modules.
    pub fn new(t: &Target, touched: &BTreeSet<String>) -> Self {
        Self {
            title: title(t, touched),
            after_rollback: false,
        }
    }

    /// The rollback's: the fixed checks.
    pub fn again() -> Self {
        Self {
            title: "smoke test again".to_owned(),
            after_rollback: true,
        }
    }
}

#[async_trait]
impl Phase for Smoke {
    fn kind(&self) -> StepKind {
        StepKind::Smoke
    }
    fn title(&self) -> String {
        self.title.clone()
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let result = if self.after_rollback {
            fixed(run.ctx.target).await
        } else {
            smoke(run.ctx.target, run.plan).await
        };
        result.map_err(|e| Failure::new(self.kind(), e.to_string()))
    }
}

/// The smoke test: the fixed checks, and those of every module installed or reloaded.
fn title(t: &Target, touched: &BTreeSet<String>) -> String {
    let mut parts: Vec<String> = t
        .smoke
        .pages
        .iter()
        .map(|p| format!("GET {} → {}", p.path, p.status))
        .collect();
    if let Some(login) = &t.smoke.login {
        parts.push(format!(
            "log in as {} and read {}",
            login.login, login.read_model
        ));
    }
    for (module, checks) in &t.smoke.modules {
        if touched.contains(module) {
            parts.extend(
                checks
                    .pages
                    .iter()
                    .map(|p| format!("GET {} → {} ({module})", p.path, p.status)),
            );
            parts.extend(
                checks
                    .read_models
                    .iter()
                    .map(|m| format!("read {m} ({module})")),
            );
        }
    }
    if parts.is_empty() {
        "smoke test: none configured".to_owned()
    } else {
        format!("smoke test: {}", parts.join(", "))
    }
}

async fn smoke(t: &Target, plan: &Plan) -> Result<(), CheckError> {
    let http = OdooHttp::new(&t.base_url, Duration::from_secs(30))?;
    for page in &t.smoke.pages {
        http.page(page).await?;
    }
    let mut touched: BTreeSet<&String> = plan.update.install.iter().collect();
    touched.extend(plan.changes.effective_update.iter());
    let mut read_models: Vec<String> = Vec::new();
    for (module, checks) in &t.smoke.modules {
        if touched.contains(module) {
            for page in &checks.pages {
                http.page(page).await?;
            }
            read_models.extend(checks.read_models.iter().cloned());
        }
    }
    if let (Some(login), Some(password)) = (&t.smoke.login, &t.smoke_password) {
        http.login_and_read(&t.db.name, &login.login, password, &login.read_model)
            .await?;
        for model in &read_models {
            http.login_and_read(&t.db.name, &login.login, password, model)
                .await?;
        }
    }
    Ok(())
}

/// The fixed checks only (after a rollback).
pub(crate) async fn fixed(t: &Target) -> Result<(), CheckError> {
    let http = OdooHttp::new(&t.base_url, Duration::from_secs(30))?;
    for page in &t.smoke.pages {
        http.page(page).await?;
    }
    if let (Some(login), Some(password)) = (&t.smoke.login, &t.smoke_password) {
        http.login_and_read(&t.db.name, &login.login, password, &login.read_model)
            .await?;
    }
    Ok(())
}
