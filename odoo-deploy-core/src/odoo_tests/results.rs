//! Odoo's test log read back into results: one [`TestCase`] per `Starting Class.method
//! ...` line, failed or in error when a `FAIL:` / `ERROR:` record names it (its
//! traceback is the record's continuation lines), and the `odoo.tests.result` summary
//! (odoo-facts.md, "Tests": measured on 17.0 and 18.0).

use serde::Serialize;

use crate::odoo::{Level, parse_line};

/// How one test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It ran without failure or error.
    Passed,
    /// An assertion failed (`FAIL:`).
    Failed,
    /// It raised (`ERROR:`), or its class's setup did.
    Error,
}

/// When Odoo ran it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// During the module's install (before `Starting post tests`).
    AtInstall,
    /// After every module loaded.
    PostInstall,
}

/// One test and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestCase {
    /// The module whose tests it is.
    pub module: String,
    /// Its Python module: `odoo.addons.<module>.tests.<file>`.
    pub python_module: String,
    /// `Class.method`, as Odoo names it.
    pub name: String,
    /// When Odoo ran it.
    pub stage: Stage,
    /// How it ended.
    pub outcome: Outcome,
    /// The last line of the traceback (`AssertionError: 1 != 2 : deliberate failure`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The traceback Odoo logged, as it logged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
}

impl TestCase {
    /// The class part of [`TestCase::name`].
    pub fn class(&self) -> &str {
        self.name.rsplit_once('.').map_or("", |(class, _)| class)
    }

    /// The method part of [`TestCase::name`].
    pub fn method(&self) -> &str {
        self.name
            .rsplit_once('.')
            .map_or(&self.name, |(_, method)| method)
    }
}

/// `odoo.tests.result: F failed, E error(s) of T tests when loading database 'DB'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Tests failed (`F failed`).
    pub failed: u32,
    /// Tests in error (`E error(s)`).
    pub errors: u32,
    /// Tests run (`T tests`).
    pub tests: u32,
}

/// What one Odoo run's log said about its tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TestLog {
    /// Every test started, in log order.
    pub cases: Vec<TestCase>,
    /// Absent when the run died before the end (a test file that cannot be imported, a
    /// module that fails to load).
    pub summary: Option<Summary>,
    /// CRITICAL records (first lines), for a run that failed to load.
    pub critical: Vec<String>,
}

impl TestLog {
    /// Reads a whole log (one stream of Odoo's output).
    pub fn read(&mut self, text: &str) {
        let mut stage = Stage::AtInstall;
        let mut pending: Option<Pending> = None;
        for line in text.lines() {
            if let Some(record) = parse_line(line) {
                if let Some(done) = pending.take() {
                    self.finish(done, stage);
                }
                let message = record.message;
                if record.logger == "odoo.service.server" && message == "Starting post tests" {
                    stage = Stage::PostInstall;
                } else if record.logger == "odoo.tests.result" {
                    self.summary = parse_summary(message).or(self.summary);
                } else if let Some(name) = message
                    .strip_prefix("Starting ")
                    .and_then(|m| m.strip_suffix(" ..."))
                    && let Some(module) = test_module_of(record.logger)
                {
                    self.cases.push(TestCase {
                        module: module.to_owned(),
                        python_module: record.logger.to_owned(),
                        name: name.to_owned(),
                        stage,
                        outcome: Outcome::Passed,
                        message: None,
                        traceback: None,
                    });
                } else if record.level >= Level::Error
                    && let Some((outcome, name)) = message
                        .strip_prefix("FAIL: ")
                        .map(|n| (Outcome::Failed, n))
                        .or_else(|| message.strip_prefix("ERROR: ").map(|n| (Outcome::Error, n)))
                {
                    pending = Some(Pending {
                        outcome,
                        logger: record.logger.to_owned(),
                        name: name.to_owned(),
                        lines: Vec::new(),
                    });
                } else if record.level == Level::Critical {
                    self.critical.push(format!("{}: {message}", record.logger));
                }
            } else if let Some(open) = &mut pending {
                // A multi-line record ends with a line holding a single space.
                if line == " " {
                    if let Some(done) = pending.take() {
                        self.finish(done, stage);
                    }
                } else {
                    open.lines.push(line.to_owned());
                }
            }
        }
        if let Some(done) = pending.take() {
            self.finish(done, stage);
        }
    }

    fn finish(&mut self, done: Pending, stage: Stage) {
        let traceback = done.lines.join("\n");
        let message = done
            .lines
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.starts_with(' '))
            .cloned();
        let case = self.cases.iter_mut().rev().find(|c| {
            c.name == done.name && c.python_module == done.logger && c.outcome == Outcome::Passed
        });
        match case {
            Some(case) => {
                case.outcome = done.outcome;
                case.message = message;
                case.traceback = Some(traceback);
            }
            // `ERROR: setUpClass (odoo.addons.x.tests.test_x.TestCls)`: no test started.
            None => {
                let python_module = done
                    .name
                    .split_once(" (")
                    .and_then(|(_, rest)| rest.strip_suffix(')'))
                    .and_then(|path| path.rsplit_once('.').map(|(m, _)| m.to_owned()))
                    .unwrap_or(done.logger);
                let module = test_module_of(&python_module).unwrap_or("").to_owned();
                self.cases.push(TestCase {
                    module,
                    python_module,
                    name: done.name,
                    stage,
                    outcome: done.outcome,
                    message,
                    traceback: Some(traceback),
                });
            }
        }
    }

    /// Counts of what was read: (tests, failed, errors).
    pub fn counts(&self) -> (u32, u32, u32) {
        let count = |o: Outcome| {
            u32::try_from(self.cases.iter().filter(|c| c.outcome == o).count()).unwrap_or(u32::MAX)
        };
        let tests = u32::try_from(self.cases.len()).unwrap_or(u32::MAX);
        (tests, count(Outcome::Failed), count(Outcome::Error))
    }
}

#[derive(Debug)]
struct Pending {
    outcome: Outcome,
    logger: String,
    name: String,
    lines: Vec<String>,
}

/// `odoo.addons.<module>.tests…` → `<module>`.
fn test_module_of(logger: &str) -> Option<&str> {
    let rest = logger.strip_prefix("odoo.addons.")?;
    let (module, rest) = rest.split_once('.')?;
    (rest == "tests" || rest.starts_with("tests.")).then_some(module)
}

fn parse_summary(message: &str) -> Option<Summary> {
    let (failed, rest) = message.split_once(" failed, ")?;
    let (errors, rest) = rest.split_once(" error(s) of ")?;
    let (tests, rest) = rest.split_once(" tests")?;
    rest.starts_with(" when loading database ").then_some(())?;
    Some(Summary {
        failed: failed.parse().ok()?,
        errors: errors.parse().ok()?,
        tests: tests.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::{Outcome, Stage, Summary, TestLog};

    /// The lines of odoo-facts.md's "Tests" section, as Odoo 17/18 print them.
    const LOG: &str = "2026-11-22 03:21:46,343 25351 INFO db odoo.addons.x.tests.test_x: Starting TestCls.test_a_pass ... \n\
2026-11-22 03:21:46,344 25351 INFO db odoo.addons.x.tests.test_x: Starting TestCls.test_b_fail ... \n\
2026-11-22 03:21:46,345 25351 INFO db odoo.addons.x.tests.test_x: ====================================================================== \n\
2026-11-22 03:21:46,345 25351 ERROR db odoo.addons.x.tests.test_x: FAIL: TestCls.test_b_fail\n\
Traceback (most recent call last):\n  File \"/x/tests/test_x.py\", line 9, in test_b_fail\n    self.assertEqual(1, 2, \"deliberate failure\")\n\
AssertionError: 1 != 2 : deliberate failure\n \n\
2026-11-22 03:21:46,346 25351 INFO db odoo.addons.x.tests.test_x: Starting TestCls.test_c_error ... \n\
2026-11-22 03:21:46,346 25351 INFO db odoo.addons.x.tests.test_x: ====================================================================== \n\
2026-11-22 03:21:46,346 25351 ERROR db odoo.addons.x.tests.test_x: ERROR: TestCls.test_c_error\n\
Traceback (most recent call last):\n  File \"/x/tests/test_x.py\", line 12, in test_c_error\n    {}[\"k\"]\nKeyError: 'k'\n \n\
2026-11-22 03:21:46,347 25351 INFO db odoo.modules.loading: Module x loaded in 0.11s (incl. 0.03s test), 12 queries (+9 test, +12 other) \n\
2026-11-22 03:21:46,347 25351 ERROR db odoo.modules.loading: Module x: 1 failures, 1 errors of 3 tests \n\
2026-11-22 03:21:46,347 25351 ERROR db odoo.modules.loading: At least one test failed when loading the modules. \n\
2026-11-22 03:21:46,348 25351 INFO db odoo.service.server: Starting post tests \n\
2026-11-22 03:21:46,348 25351 INFO db odoo.addons.x.tests.test_post: Starting TestPost.test_p ... \n\
2026-11-22 03:21:46,349 25351 ERROR db odoo.tests.common: ERROR: setUpClass (odoo.addons.x.tests.test_y.TestY)\n\
Traceback (most recent call last):\nValueError: no setup\n \n\
2026-11-22 03:21:46,349 25351 INFO db odoo.service.server: 1 post-tests in 0.00s, 2 queries \n\
2026-11-22 03:21:46,349 25351 INFO db odoo.tests.stats: x: 8 tests 0.03s 11 queries \n\
2026-11-22 03:21:46,350 25351 ERROR db odoo.tests.result: 1 failed, 2 error(s) of 4 tests when loading database 'db' \n";

    #[test]
    fn every_test_gets_its_result_stage_and_traceback() {
        let mut log = TestLog::default();
        log.read(LOG);
        let seen: Vec<_> = log
            .cases
            .iter()
            .map(|c| (c.module.as_str(), c.name.as_str(), c.stage, c.outcome))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "x",
                    "TestCls.test_a_pass",
                    Stage::AtInstall,
                    Outcome::Passed
                ),
                (
                    "x",
                    "TestCls.test_b_fail",
                    Stage::AtInstall,
                    Outcome::Failed
                ),
                (
                    "x",
                    "TestCls.test_c_error",
                    Stage::AtInstall,
                    Outcome::Error
                ),
                ("x", "TestPost.test_p", Stage::PostInstall, Outcome::Passed),
                (
                    "x",
                    "setUpClass (odoo.addons.x.tests.test_y.TestY)",
                    Stage::PostInstall,
                    Outcome::Error
                ),
            ]
        );
        let fail = &log.cases[1];
        assert_eq!(
            fail.message.as_deref(),
            Some("AssertionError: 1 != 2 : deliberate failure")
        );
        assert_eq!(
            fail.traceback.as_deref(),
            Some(
                "Traceback (most recent call last):\n  File \"/x/tests/test_x.py\", line 9, in test_b_fail\n    self.assertEqual(1, 2, \"deliberate failure\")\nAssertionError: 1 != 2 : deliberate failure"
            )
        );
        assert_eq!((fail.class(), fail.method()), ("TestCls", "test_b_fail"));
        assert_eq!(log.cases[2].message.as_deref(), Some("KeyError: 'k'"));
        assert_eq!(log.cases[4].python_module, "odoo.addons.x.tests.test_y");
        assert_eq!(
            log.summary,
            Some(Summary {
                failed: 1,
                errors: 2,
                tests: 4
            })
        );
        assert_eq!(log.counts(), (5, 1, 2));
    }

    #[test]
    fn a_run_that_died_has_no_summary_and_says_why() {
        let mut log = TestLog::default();
        log.read(
            "2026-11-22 03:21:46,343 1 CRITICAL db odoo.service.server: Failed to initialize database `db`.\n\
Traceback (most recent call last):\nModuleNotFoundError: No module named 'nope'\n",
        );
        assert_eq!(log.summary, None);
        assert!(log.cases.is_empty());
        assert_eq!(
            log.critical,
            ["odoo.service.server: Failed to initialize database `db`."]
        );
    }

    #[test]
    fn no_test_is_a_summary_of_zero() {
        let mut log = TestLog::default();
        log.read("2026-11-22 03:21:46,343 1 WARNING db odoo.tests.result: 0 failed, 0 error(s) of 0 tests when loading database 'db' \n");
        assert_eq!(
            log.summary,
            Some(Summary {
                failed: 0,
                errors: 0,
                tests: 0
            })
        );
    }
}
