//! A lint report in the forms CI reads: GitHub workflow commands (annotations), JUnit XML
//! (one test suite a linter, one test case a finding) and SARIF 2.1.0 (one run a linter).
//! Each returns text; the caller writes it.

use std::fmt::Write as _;

use super::{Finding, LintReport, LinterOutcome, LinterRun, Severity};

/// A workflow command's message, escaped as GitHub's toolkit does (`escapeData`).
pub fn github_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value (`escapeProperty`): also `:` and `,`.
pub fn github_property(text: &str) -> String {
    github_data(text).replace(':', "%3A").replace(',', "%2C")
}

fn github_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "notice",
    }
}

/// One workflow command a finding, `::error file=F,line=L,col=C,title=T::MESSAGE`, and
/// one `::error` for each linter that crashed or was not found.
pub fn github(report: &LintReport) -> String {
    let mut out = String::new();
    for finding in &report.findings {
        let mut props = Vec::new();
        if let Some(file) = &finding.file {
            props.push(format!("file={}", github_property(file)));
        }
        if let Some(line) = finding.line {
            props.push(format!("line={line}"));
        }
        if let Some(col) = finding.column {
            props.push(format!("col={col}"));
        }
        props.push(format!("title={}", github_property(&title(finding))));
        let _ = writeln!(
            out,
            "::{} {}::{}",
            github_level(finding.severity()),
            props.join(","),
            github_data(&finding.message)
        );
    }
    for run in report.failed_linters() {
        let _ = writeln!(
            out,
            "::error title={}::{}",
            github_property(&format!("{} {}", run.name, failure_word(run))),
            github_data(&failure_text(run))
        );
    }
    out
}

/// `linter CODE`, or the linter's name for a finding without a code.
fn title(finding: &Finding) -> String {
    match &finding.code {
        Some(code) => format!("{} {code}", finding.linter),
        None => finding.linter.clone(),
    }
}

fn failure_word(run: &LinterRun) -> &'static str {
    match run.outcome {
        LinterOutcome::NotFound { .. } => "not found",
        _ => "crashed",
    }
}

/// What a crashed or missing linter did, with its stderr's tail.
pub fn failure_text(run: &LinterRun) -> String {
    let head = match &run.outcome {
        LinterOutcome::Crashed { reason } => reason.clone(),
        LinterOutcome::NotFound { program } => format!("`{program}` is not installed (exit 127)"),
        _ => String::new(),
    };
    if run.stderr.is_empty() {
        head
    } else {
        format!("{head}\n{}", run.stderr)
    }
}

/// Text escaped for XML (attributes and content), without the characters XML 1.0 cannot
/// hold.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: a `<testsuite>` a linter (odd's checks first). A finding that fails the
/// run is a test case with a `<failure>`, one below `fail_on` a passing case with the
/// finding as its output; a linter that found nothing is one passing case, one that
/// crashed or was not found one case with an `<error>`.
pub fn junit(report: &LintReport) -> String {
    let mut suites = String::new();
    let (mut all_tests, mut all_failures, mut all_errors) = (0, 0, 0);
    for run in &report.linters {
        let findings: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.linter == run.name)
            .collect();
        let mut cases = String::new();
        let (mut tests, mut failures, mut errors) = (0, 0, 0);
        let time = format!("{:.3}", run.duration_ms as f64 / 1000.0);
        if run.failed() {
            tests += 1;
            errors += 1;
            let _ = writeln!(
                cases,
                "    <testcase classname=\"{n}\" name=\"{n}\" time=\"{time}\">\n      <error type=\"{w}\" message=\"{m}\">{t}</error>\n    </testcase>",
                n = xml(&run.name),
                w = xml(failure_word(run)),
                m = xml(failure_text(run).lines().next().unwrap_or_default()),
                t = xml(&failure_text(run)),
            );
        }
        for finding in &findings {
            tests += 1;
            let name = match (finding.location(), &finding.code) {
                (Some(at), Some(code)) => format!("{at} {code}"),
                (Some(at), None) => at,
                (None, Some(code)) => code.clone(),
                (None, None) => finding.message.clone(),
            };
            let body = format!(
                "{}: {} {}",
                finding.location().unwrap_or_else(|| run.name.clone()),
                finding.severity().as_str(),
                finding.message
            );
            if report.fail_on.fails(finding.severity()) {
                failures += 1;
                let _ = writeln!(
                    cases,
                    "    <testcase classname=\"{c}\" name=\"{n}\" file=\"{f}\">\n      <failure type=\"{ty}\" message=\"{m}\">{b}</failure>\n    </testcase>",
                    c = xml(&run.name),
                    n = xml(&name),
                    f = xml(finding.file.as_deref().unwrap_or_default()),
                    ty = xml(finding
                        .code
                        .as_deref()
                        .unwrap_or(finding.severity().as_str())),
                    m = xml(&finding.message),
                    b = xml(&body),
                );
            } else {
                let _ = writeln!(
                    cases,
                    "    <testcase classname=\"{c}\" name=\"{n}\" file=\"{f}\">\n      <system-out>{b}</system-out>\n    </testcase>",
                    c = xml(&run.name),
                    n = xml(&name),
                    f = xml(finding.file.as_deref().unwrap_or_default()),
                    b = xml(&body),
                );
            }
        }
        if tests == 0 {
            tests = 1;
            let skipped = match &run.outcome {
                LinterOutcome::Skipped { reason } => {
                    format!("\n      <skipped message=\"{}\"/>\n    ", xml(reason))
                }
                _ => String::new(),
            };
            let _ = writeln!(
                cases,
                "    <testcase classname=\"{n}\" name=\"{n}\" time=\"{time}\">{skipped}</testcase>",
                n = xml(&run.name),
            );
        }
        let skipped = usize::from(matches!(run.outcome, LinterOutcome::Skipped { .. }));
        let _ = write!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time}\">\n{cases}  </testsuite>\n",
            xml(&run.name)
        );
        all_tests += tests;
        all_failures += failures;
        all_errors += errors;
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"odd lint\" tests=\"{all_tests}\" failures=\"{all_failures}\" errors=\"{all_errors}\">\n{suites}</testsuites>\n"
    )
}

/// SARIF 2.1.0: one run a linter, its findings as results (with their rules), a crash as
/// an unsuccessful invocation with its message.
pub fn sarif(report: &LintReport) -> serde_json::Value {
    let runs: Vec<serde_json::Value> = report
        .linters
        .iter()
        .map(|run| {
            let findings: Vec<&Finding> = report
                .findings
                .iter()
                .filter(|f| f.linter == run.name)
                .collect();
            let mut rules: Vec<&str> = findings.iter().filter_map(|f| f.code.as_deref()).collect();
            rules.sort_unstable();
            rules.dedup();
            let results: Vec<serde_json::Value> = findings
                .iter()
                .map(|f| {
                    let mut result = serde_json::json!({
                        "level": f.severity().as_str(),
                        "message": { "text": f.message },
                    });
                    if let Some(code) = &f.code {
                        result["ruleId"] = code.clone().into();
                    }
                    if let Some(file) = &f.file {
                        let mut region = serde_json::Map::new();
                        if let Some(line) = f.line {
                            region.insert("startLine".into(), line.into());
                        }
                        if let Some(col) = f.column {
                            region.insert("startColumn".into(), col.into());
                        }
                        let mut location = serde_json::json!({
                            "artifactLocation": { "uri": file, "uriBaseId": "%SRCROOT%" },
                        });
                        if !region.is_empty() {
                            location["region"] = region.into();
                        }
                        result["locations"] = serde_json::json!([{ "physicalLocation": location }]);
                    }
                    result
                })
                .collect();
            let mut invocation = serde_json::json!({ "executionSuccessful": !run.failed() });
            if let Some(code) = run.exit_code {
                invocation["exitCode"] = code.into();
            }
            if run.failed() {
                invocation["toolExecutionNotifications"] = serde_json::json!([{
                    "level": "error",
                    "message": { "text": failure_text(run) },
                }]);
            }
            serde_json::json!({
                "tool": { "driver": {
                    "name": run.name,
                    "rules": rules.iter().map(|id| serde_json::json!({ "id": id })).collect::<Vec<_>>(),
                }},
                "invocations": [invocation],
                "originalUriBaseIds": { "%SRCROOT%": { "description": { "text": "the project's root" } } },
                "results": results,
            })
        })
        .collect();
    serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::FailOn;

    fn report() -> LintReport {
        let finding = |linter: &str, code: Option<&str>, severity, message: &str| Finding {
            linter: linter.into(),
            file: Some("addons/a,b/x:y.py".into()),
            line: Some(3),
            column: Some(7),
            code: code.map(Into::into),
            severity: Some(severity),
            message: message.into(),
        };
        let run = |name: &str, outcome, findings| LinterRun {
            name: name.into(),
            command: vec![name.into()],
            outcome,
            exit_code: Some(1),
            stderr: String::new(),
            findings,
            duration_ms: 1500,
        };
        LintReport {
            modules: vec!["a".into()],
            selection: "all".into(),
            fail_on: FailOn::Error,
            findings: vec![
                finding(
                    "flake8",
                    Some("E501"),
                    Severity::Error,
                    "100% <too> long\r\nreally",
                ),
                finding(
                    "flake8",
                    Some("W291"),
                    Severity::Warning,
                    "trailing whitespace",
                ),
            ],
            linters: vec![
                run("flake8", LinterOutcome::Findings, 2),
                LinterRun {
                    stderr: "Traceback (most recent call last):\n  boom".into(),
                    exit_code: Some(2),
                    ..run(
                        "pylint",
                        LinterOutcome::Crashed {
                            reason: "exited 2 without printing a finding odd could read".into(),
                        },
                        0,
                    )
                },
            ],
        }
    }

    #[test]
    fn github_workflow_commands_escape_as_the_toolkit_does() {
        assert_eq!(github_data("a%b\r\nc:d,e"), "a%25b%0D%0Ac:d,e");
        assert_eq!(github_property("a%b\r\nc:d,e"), "a%25b%0D%0Ac%3Ad%2Ce");
        assert_eq!(
            github(&report()),
            "::error file=addons/a%2Cb/x%3Ay.py,line=3,col=7,title=flake8 E501::100%25 <too> long%0D%0Areally\n\
             ::warning file=addons/a%2Cb/x%3Ay.py,line=3,col=7,title=flake8 W291::trailing whitespace\n\
             ::error title=pylint crashed::exited 2 without printing a finding odd could read%0ATraceback (most recent call last):%0A  boom\n"
        );
    }

    #[test]
    fn junit_counts_failures_errors_and_passing_warnings() {
        let xml = junit(&report());
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"odd lint\" tests=\"3\" failures=\"1\" errors=\"1\">\n"), "{xml}");
        assert!(xml.contains("<testsuite name=\"flake8\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"1.500\">"), "{xml}");
        assert!(
            xml.contains(
                "<failure type=\"E501\" message=\"100% &lt;too&gt; long&#13;&#10;really\">"
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<system-out>addons/a,b/x:y.py:3:7: warning trailing whitespace</system-out>"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<testsuite name=\"pylint\" tests=\"1\" failures=\"0\" errors=\"1\""),
            "{xml}"
        );
        assert!(xml.contains("<error type=\"crashed\" message=\"exited 2 without printing a finding odd could read\">"), "{xml}");
    }

    #[test]
    fn sarif_has_a_run_per_linter() {
        let sarif = sarif(&report());
        assert_eq!(sarif["version"], "2.1.0");
        let runs = sarif["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0]["tool"]["driver"]["name"], "flake8");
        assert_eq!(runs[0]["results"][0]["ruleId"], "E501");
        assert_eq!(runs[0]["results"][0]["level"], "error");
        assert_eq!(runs[0]["results"][1]["level"], "warning");
        let loc = &runs[0]["results"][0]["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "addons/a,b/x:y.py");
        assert_eq!(loc["region"]["startLine"], 3);
        assert_eq!(loc["region"]["startColumn"], 7);
        assert_eq!(runs[1]["invocations"][0]["executionSuccessful"], false);
        assert_eq!(runs[1]["invocations"][0]["exitCode"], 2);
    }
}
