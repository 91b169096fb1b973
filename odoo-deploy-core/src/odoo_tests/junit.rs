//! JUnit XML of a test run, as CI dashboards read it (GitHub, GitLab, Jenkins): one
//! `<testsuite>` per module, one `<testcase>` per test (`classname` the Python class,
//! `name` the method), `<failure>` / `<error>` with the traceback; a run of Odoo that
//! failed outside any test is one `<error>` in a suite of its own, so it is never lost.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::results::{Outcome, TestCase};

/// A run of Odoo that failed outside any test (it could not load, it timed out).
#[derive(Debug, Clone)]
pub struct RunProblem<'a> {
    /// Where it ran (the throwaway database).
    pub database: &'a str,
    /// What went wrong, one line (the `<error>`'s `message`).
    pub message: &'a str,
    /// The evidence (the `<error>`'s text): CRITICAL lines, the last lines of the log.
    pub detail: &'a str,
}

/// The document.
pub fn render(cases: &[TestCase], problems: &[RunProblem<'_>]) -> String {
    let mut suites: BTreeMap<&str, Vec<&TestCase>> = BTreeMap::new();
    for case in cases {
        suites.entry(case.module.as_str()).or_default().push(case);
    }
    let count = |list: &[&TestCase], o: Outcome| list.iter().filter(|c| c.outcome == o).count();
    let all: Vec<&TestCase> = cases.iter().collect();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"odd test\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        all.len() + problems.len(),
        count(&all, Outcome::Failed),
        count(&all, Outcome::Error) + problems.len()
    );
    for (module, list) in &suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\">",
            escape(module),
            list.len(),
            count(list, Outcome::Failed),
            count(list, Outcome::Error)
        );
        for case in list {
            let classname = match case.class() {
                "" => case.python_module.clone(),
                class => format!("{}.{class}", case.python_module),
            };
            let head = format!(
                "    <testcase classname=\"{}\" name=\"{}\"",
                escape(&classname),
                escape(case.method())
            );
            let tag = match case.outcome {
                Outcome::Passed => {
                    let _ = writeln!(out, "{head}/>");
                    continue;
                }
                Outcome::Failed => "failure",
                Outcome::Error => "error",
            };
            let message = case.message.as_deref().unwrap_or("");
            let kind = message.split_once(':').map_or(message, |(k, _)| k);
            let _ = writeln!(
                out,
                "{head}>\n      <{tag} message=\"{}\" type=\"{}\">{}</{tag}>\n    </testcase>",
                escape(message),
                escape(kind),
                escape(case.traceback.as_deref().unwrap_or(""))
            );
        }
        out.push_str("  </testsuite>\n");
    }
    if !problems.is_empty() {
        let _ = writeln!(
            out,
            "  <testsuite name=\"odoo\" tests=\"{0}\" failures=\"0\" errors=\"{0}\" skipped=\"0\">",
            problems.len()
        );
        for problem in problems {
            let _ = writeln!(
                out,
                "    <testcase classname=\"odd.test\" name=\"{}\">\n      <error message=\"{}\">{}</error>\n    </testcase>",
                escape(problem.database),
                escape(problem.message),
                escape(problem.detail)
            );
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Text for an XML attribute or element: markup escaped, and the characters XML 1.0
/// cannot hold at all (control characters but tab and newline) left out.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            '\r' => out.push_str("&#13;"),
            c if c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{RunProblem, render};
    use crate::odoo_tests::results::{Outcome, Stage, TestCase};

    fn case(name: &str, outcome: Outcome, message: Option<&str>) -> TestCase {
        TestCase {
            module: "x".into(),
            python_module: "odoo.addons.x.tests.test_x".into(),
            name: name.into(),
            stage: Stage::AtInstall,
            outcome,
            message: message.map(Into::into),
            traceback: message.map(|m| format!("Traceback (most recent call last):\n{m}")),
        }
    }

    #[test]
    fn suites_cases_failures_and_escaping() {
        let xml = render(
            &[
                case("T.test_a", Outcome::Passed, None),
                case(
                    "T.test_b",
                    Outcome::Failed,
                    Some("AssertionError: 1 != 2 : <&\"'>"),
                ),
                case("T.test_c", Outcome::Error, Some("KeyError: 'k'\u{1b}")),
            ],
            &[RunProblem {
                database: "odd_test_1",
                message: "odoo-bin exited 255",
                detail: "ModuleNotFoundError",
            }],
        );
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="odd test" tests="4" failures="1" errors="2">
  <testsuite name="x" tests="3" failures="1" errors="1" skipped="0">
    <testcase classname="odoo.addons.x.tests.test_x.T" name="test_a"/>
    <testcase classname="odoo.addons.x.tests.test_x.T" name="test_b">
      <failure message="AssertionError: 1 != 2 : &lt;&amp;&quot;&apos;&gt;" type="AssertionError">Traceback (most recent call last):
AssertionError: 1 != 2 : &lt;&amp;&quot;&apos;&gt;</failure>
    </testcase>
    <testcase classname="odoo.addons.x.tests.test_x.T" name="test_c">
      <error message="KeyError: &apos;k&apos;" type="KeyError">Traceback (most recent call last):
KeyError: &apos;k&apos;</error>
    </testcase>
  </testsuite>
  <testsuite name="odoo" tests="1" failures="0" errors="1" skipped="0">
    <testcase classname="odd.test" name="odd_test_1">
      <error message="odoo-bin exited 255">ModuleNotFoundError</error>
    </testcase>
  </testsuite>
</testsuites>
"#;
        assert_eq!(xml, expected);
    }
}
