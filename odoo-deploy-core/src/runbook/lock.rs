//! The environment lock, taken before the first step and released after the last: the
//! plan shows both; [`crate::deploy::execute`] holds the [`crate::lock::EnvLock`] around
//! the run (a guard that knows its owner, so a stale lock is recognised).

use async_trait::async_trait;

use super::{Failure, OnResume, Phase, Run};
use crate::plan::StepKind;
use crate::target::Target;

/// Takes the environment's lock (done by the deploy before the steps run).
#[derive(Debug, Clone)]
pub struct Lock {
    title: String,
}

impl Lock {
    /// The lock of `t`'s environment.
    pub fn new(t: &Target) -> Self {
        Self {
            title: format!(
                "lock {} on {} ({})",
                t.environment,
                t.host,
                t.layout.lock().display()
            ),
        }
    }
}

#[async_trait]
impl Phase for Lock {
    fn kind(&self) -> StepKind {
        StepKind::Lock
    }
    fn title(&self) -> String {
        self.title.clone()
    }
    fn on_resume(&self) -> OnResume {
        OnResume::Skip
    }
    /// Held by [`crate::deploy::execute`] around the whole run; nothing to do here.
    async fn run(&self, _run: &mut Run<'_, '_>) -> Result<(), Failure> {
        Ok(())
    }
}

/// Releases the lock (done by the deploy once the ledger tells the outcome).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlock;

#[async_trait]
impl Phase for Unlock {
    fn kind(&self) -> StepKind {
        StepKind::Unlock
    }
    fn title(&self) -> String {
        "release the lock".to_owned()
    }
    async fn run(&self, _run: &mut Run<'_, '_>) -> Result<(), Failure> {
        Ok(())
    }
}
