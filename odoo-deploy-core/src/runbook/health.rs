//! Waiting for Odoo's health answer (with retries, up to the configured timeout), in the
//! deploy and in its rollback. The downtime runs from the first stop to this answer.

use std::time::Duration;

use async_trait::async_trait;

use super::{Failure, Phase, Run};
use crate::http::{CheckError, OdooHttp};
use crate::plan::StepKind;
use crate::target::Target;

/// Waits for health.
#[derive(Debug, Clone)]
pub struct Health {
    title: String,
}

impl Health {
    /// The deploy's: `GET` the health path until 200.
    pub fn new(t: &Target) -> Self {
        Self {
            title: format!(
                "GET {}{} until 200, at most {} s",
                t.base_url.trim_end_matches('/'),
                t.health_path,
                t.health_timeout.as_secs()
            ),
        }
    }

    /// The rollback's.
    pub fn again() -> Self {
        Self {
            title: "wait for health again".to_owned(),
        }
    }
}

#[async_trait]
impl Phase for Health {
    fn kind(&self) -> StepKind {
        StepKind::Health
    }
    fn title(&self) -> String {
        self.title.clone()
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        wait(run.ctx.target)
            .await
            .map_err(|e| Failure::new(self.kind(), e.to_string()))?;
        run.progress.healthy();
        Ok(())
    }
}

/// Waits until `t`'s health path answers 200, at most its health timeout.
pub(crate) async fn wait(t: &Target) -> Result<(), CheckError> {
    let http = OdooHttp::new(&t.base_url, Duration::from_secs(10))?;
    http.wait_healthy(&t.health_path, t.health_timeout, Duration::from_millis(250))
        .await
        .map(drop)
}
