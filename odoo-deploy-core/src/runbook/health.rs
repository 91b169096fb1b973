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
    /// The deploy's: `GET` the health path until 200 (in a fleet, on every host).
    pub fn new(t: &Target) -> Self {
        let mut title = format!(
            "GET {}{} until 200, at most {} s",
            t.base_url.trim_end_matches('/'),
            t.health_path,
            t.health_timeout.as_secs()
        );
        for h in &t.fleet {
            title.push_str(&match &h.base_url {
                Some(url) => format!(
                    "; {}: GET {}{}",
                    h.name,
                    url.trim_end_matches('/'),
                    t.health_path
                ),
                None => format!("; {}: its service's status", h.name),
            });
        }
        Self { title }
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
        let ctx = run.ctx;
        let t = ctx.target;
        let lost = run.progress.lost.clone();
        let (mine, theirs) = tokio::join!(
            wait(t),
            crate::fleet::on_each(&ctx.fleet, |m| {
                let skip = lost.contains_key(&m.host.label());
                async move {
                    if skip {
                        return Ok(());
                    }
                    host_health(t, &m.host, m.transport.as_ref()).await
                }
            })
        );
        mine.map_err(|e| Failure::new(self.kind(), e.to_string()))?;
        super::fleet_outcome(run, self.kind(), &theirs)?;
        run.progress.healthy();
        Ok(())
    }
}

/// One other host of a fleet healthy: its health page answers 200 (a host with a URL),
/// else its service's status command exits 0 (a cron or worker host without one).
pub(crate) async fn host_health(
    t: &Target,
    host: &crate::fleet::FleetHost,
    transport: &dyn crate::transport::Transport,
) -> Result<(), String> {
    match &host.base_url {
        Some(url) => {
            let http = OdooHttp::new(url, Duration::from_secs(10)).map_err(|e| e.to_string())?;
            http.wait_healthy(&t.health_path, t.health_timeout, Duration::from_millis(250))
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
        None => transport
            .check_output(&host.service.status())
            .await
            .map(drop)
            .map_err(|e| format!("Odoo does not run there: {e}")),
    }
}

/// Waits until `t`'s health path answers 200, at most its health timeout.
pub(crate) async fn wait(t: &Target) -> Result<(), CheckError> {
    let http = OdooHttp::new(&t.base_url, Duration::from_secs(10))?;
    http.wait_healthy(&t.health_path, t.health_timeout, Duration::from_millis(250))
        .await
        .map(drop)
}
