//! Odoo's log through startup, read from where it stood before the start: a module
//! skipped for missing dependencies leaves health at 200, so only the log tells.

use async_trait::async_trait;

use super::update::{EVIDENCE_LINES, describe_finding, with_telling_lines};
use super::{Failure, Phase, Run};
use crate::odoo::{Finding, LogWatch};
use crate::plan::StepKind;
use crate::startup_log::{LogMark, StartupLog};
use crate::target::Target;
use crate::transport::Transport;

/// Reads the startup log.
#[derive(Debug, Clone)]
pub struct StartupLogCheck {
    source: String,
}

impl StartupLogCheck {
    /// `t`'s startup log, if it has a source.
    pub fn new(t: &Target) -> Option<Self> {
        t.startup_log.as_ref().map(|log| Self {
            source: log.describe(),
        })
    }
}

#[async_trait]
impl Phase for StartupLogCheck {
    fn kind(&self) -> StepKind {
        StepKind::StartupLog
    }
    fn title(&self) -> String {
        format!(
            "read {} through startup: no module skipped, no error",
            self.source
        )
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        read(
            run.ctx.transport.as_ref(),
            run.ctx.target,
            run.progress.log_mark,
        )
        .await
    }
}

/// Reads Odoo's startup log on the host from `mark` (where it stood before the start;
/// none taken: all of it) and fails on what a healthy start never prints.
pub(crate) async fn read(
    transport: &dyn Transport,
    target: &Target,
    mark: Option<LogMark>,
) -> Result<(), Failure> {
    let Some(log) = &target.startup_log else {
        return Ok(());
    };
    let mark = mark.unwrap_or(match log {
        StartupLog::Journal { .. } | StartupLog::Compose { .. } => LogMark::Since(0),
        _ => LogMark::Bytes(0),
    });
    let out = log
        .read(transport, mark)
        .await
        .map_err(|e| Failure::new(StepKind::StartupLog, e.to_string()))?;
    let mut watch = LogWatch::new(&target.allow_log_errors, EVIDENCE_LINES)
        .map_err(|e| Failure::new(StepKind::StartupLog, e.to_string()))?;
    let mut telling = Vec::new();
    for line in out.lines() {
        if watch.line(line).is_some_and(Finding::is_failure) {
            telling.push(line.to_owned());
        }
    }
    let failures: Vec<String> = watch.failures().map(describe_finding).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(StepKind::StartupLog, failures.join("; "))
            .with_evidence(with_telling_lines(&telling, watch.tail())))
    }
}
