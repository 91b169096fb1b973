//! Readers of linters' output, one per known format, each turning what the linter printed
//! into [`Finding`]s (file, line, column, code, severity, message). Lines a reader does
//! not recognise are left out: whether the linter crashed is decided by its exit code
//! and whether anything was found ([`super::judge`]).

use std::path::Path;

use regex::Regex;
use serde::Deserialize;

use super::{Finding, LintFormat, Severity};

/// What a linter printed, read as `format`. `pattern` is the compiled `regex` of a
/// [`LintFormat::Regex`] linter; `root` is where the linter ran (absolute paths under it
/// are made relative).
pub fn parse(
    format: LintFormat,
    pattern: Option<&Regex>,
    stdout: &str,
    stderr: &str,
    root: &Path,
) -> Vec<Finding> {
    let mut found = match format {
        LintFormat::Flake8 => lines_matching(flake8_regex(), stdout),
        LintFormat::PylintParseable => {
            let mut all = lines_matching(pylint_parseable_regex(), stdout);
            for finding in &mut all {
                finding.severity = finding.code.as_deref().and_then(pylint_letter_severity);
            }
            all
        }
        LintFormat::PylintJson => pylint_json(stdout),
        LintFormat::RuffJson => ruff_json(stdout),
        LintFormat::Isort => isort(stdout, stderr),
        LintFormat::Regex => match pattern {
            Some(re) => {
                let mut all = lines_matching(re, stdout);
                all.extend(lines_matching(re, stderr));
                all
            }
            None => Vec::new(),
        },
    };
    for finding in &mut found {
        if let Some(file) = &finding.file {
            finding.file = Some(relative_to(file, root));
        }
    }
    found
}

/// flake8's default format (also pycodestyle's and ruff's `concise`):
/// `path:line:col: CODE message`.
fn flake8_regex() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        #[allow(clippy::unwrap_used)] // a constant pattern, tested
        Regex::new(
            r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<column>\d+): (?P<code>[A-Z]+[0-9]+) (?P<message>.*)$",
        )
        .unwrap()
    })
}

/// pylint's `--output-format=parseable`:
/// `path:line: [C0114(missing-module-docstring), obj] message`.
fn pylint_parseable_regex() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        #[allow(clippy::unwrap_used)] // a constant pattern, tested
        Regex::new(
            r"^(?P<file>[^:\n]+):(?P<line>\d+): \[(?P<code>[A-Z][0-9]+)(?:\([^)]*\))?(?:, [^\]]*)?\] (?P<message>.*)$",
        )
        .unwrap()
    })
}

/// Every line of `text` the pattern matches, read through its named groups: `file`,
/// `line`, `column` (or `col`), `code`, `severity`, `message` (the whole line when the
/// pattern has no `message` group).
pub(super) fn lines_matching(re: &Regex, text: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let Some(caps) = re.captures(line) else {
            continue;
        };
        let group = |name: &str| caps.name(name).map(|m| m.as_str().to_owned());
        let number = |name: &str| caps.name(name).and_then(|m| m.as_str().parse::<u32>().ok());
        let code = group("code").filter(|c| !c.is_empty());
        let severity = caps
            .name("severity")
            .and_then(|m| Severity::from_word(m.as_str()));
        found.push(Finding {
            linter: String::new(),
            file: group("file").filter(|f| !f.is_empty()),
            line: number("line"),
            column: number("column").or_else(|| number("col")),
            code,
            severity,
            message: group("message").unwrap_or_else(|| line.to_owned()),
        });
    }
    found
}

/// pylint's categories: fatal and error are errors, warning a warning, convention,
/// refactor and information notes.
fn pylint_category(category: &str) -> Option<Severity> {
    match category {
        "fatal" | "error" => Some(Severity::Error),
        "warning" => Some(Severity::Warning),
        "convention" | "refactor" | "info" | "information" => Some(Severity::Note),
        _ => None,
    }
}

fn pylint_letter_severity(code: &str) -> Option<Severity> {
    match code.chars().next()? {
        'F' | 'E' => Some(Severity::Error),
        'W' => Some(Severity::Warning),
        'C' | 'R' | 'I' => Some(Severity::Note),
        _ => None,
    }
}

/// One message of pylint's `json` reporter (and, with its other key names, `json2`'s).
#[derive(Deserialize)]
struct PylintMessage {
    #[serde(rename = "type")]
    category: String,
    path: String,
    line: Option<u32>,
    /// 0-based.
    column: Option<u32>,
    #[serde(rename = "message-id", alias = "messageId")]
    message_id: Option<String>,
    symbol: Option<String>,
    message: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PylintJson {
    /// `--output-format=json`: a list.
    List(Vec<PylintMessage>),
    /// `--output-format=json2`: `{"messages": […], "statistics": …}`.
    Object { messages: Vec<PylintMessage> },
}

fn pylint_json(stdout: &str) -> Vec<Finding> {
    let Some(parsed) = json_in::<PylintJson>(stdout) else {
        return Vec::new();
    };
    let messages = match parsed {
        PylintJson::List(list) | PylintJson::Object { messages: list } => list,
    };
    messages
        .into_iter()
        .map(|m| Finding {
            linter: String::new(),
            file: Some(m.path),
            line: m.line,
            column: m.column.map(|c| c + 1),
            severity: pylint_category(&m.category),
            message: match &m.symbol {
                Some(symbol) => format!("{} ({symbol})", m.message),
                None => m.message,
            },
            code: m.message_id,
        })
        .collect()
}

#[derive(Deserialize)]
struct RuffLocation {
    row: u32,
    column: u32,
}

/// One diagnostic of `ruff check --output-format=json`.
#[derive(Deserialize)]
struct RuffMessage {
    code: Option<String>,
    message: String,
    filename: String,
    location: Option<RuffLocation>,
}

fn ruff_json(stdout: &str) -> Vec<Finding> {
    json_in::<Vec<RuffMessage>>(stdout)
        .unwrap_or_default()
        .into_iter()
        .map(|m| Finding {
            linter: String::new(),
            file: Some(m.filename),
            line: m.location.as_ref().map(|l| l.row),
            column: m.location.as_ref().map(|l| l.column),
            // A syntax error has no code.
            severity: m.code.is_none().then_some(Severity::Error),
            code: m.code,
            message: m.message,
        })
        .collect()
}

/// The JSON document a linter printed (whatever it printed before the first `[`/`{`,
/// such as a warning, is skipped).
fn json_in<T: for<'de> Deserialize<'de>>(stdout: &str) -> Option<T> {
    let start = stdout.find(['[', '{'])?;
    serde_json::from_str(stdout[start..].trim_end()).ok()
}

/// `isort --check-only --diff`: one `ERROR: PATH Imports are incorrectly sorted and/or
/// formatted.` line a file (on stderr), and with `--diff` the unified diff on stdout,
/// whose first hunk gives the line.
fn isort(stdout: &str, stderr: &str) -> Vec<Finding> {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        #[allow(clippy::unwrap_used)] // a constant pattern, tested
        Regex::new(r"^ERROR: (?P<file>.+?) (?P<message>Imports are incorrectly sorted and/or formatted\.)$").unwrap()
    });
    let mut found = Vec::new();
    for text in [stderr, stdout] {
        for mut finding in lines_matching(re, text) {
            if let Some(file) = &finding.file {
                finding.line = first_hunk_line(stdout, file);
            }
            finding.code = Some("isort".to_owned());
            found.push(finding);
        }
    }
    found
}

/// The first changed line of `file` in a unified diff (`--- FILE:before` … `@@ -N,…`).
fn first_hunk_line(diff: &str, file: &str) -> Option<u32> {
    let mut in_file = false;
    for line in diff.lines() {
        if let Some(name) = line.strip_prefix("--- ") {
            let name = name.split('\t').next().unwrap_or(name);
            in_file = name.strip_suffix(":before").unwrap_or(name) == file;
        } else if in_file && let Some(hunk) = line.strip_prefix("@@ -") {
            let n = hunk.split([',', ' ']).next()?;
            return n.parse().ok();
        }
    }
    None
}

/// `file` as a path relative to `root` when it is under it, with `/` separators and no
/// leading `./`.
fn relative_to(file: &str, root: &Path) -> String {
    let path = Path::new(file);
    let rel = path.strip_prefix(root).unwrap_or(path);
    let text = rel.to_string_lossy().into_owned();
    text.strip_prefix("./").map(str::to_owned).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(format: LintFormat, stdout: &str, stderr: &str) -> Vec<Finding> {
        parse(format, None, stdout, stderr, Path::new("/proj"))
    }

    #[test]
    fn flake8_default_format() {
        let out = "./addons/acme/models/a.py:1:1: F401 'os' imported but unused\n\
                   /proj/addons/acme/__init__.py:3:80: E501 line too long (88 > 79 characters)\n\
                   something else\n";
        let found = read(LintFormat::Flake8, out, "");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].file.as_deref(), Some("addons/acme/models/a.py"));
        assert_eq!((found[0].line, found[0].column), (Some(1), Some(1)));
        assert_eq!(found[0].code.as_deref(), Some("F401"));
        assert_eq!(found[0].message, "'os' imported but unused");
        assert_eq!(found[0].severity, None, "the linter's settings decide");
        assert_eq!(found[1].file.as_deref(), Some("addons/acme/__init__.py"));
        assert_eq!(found[1].column, Some(80));
    }

    #[test]
    fn pylint_parseable_and_json() {
        let out = "************* Module acme\n\
                   addons/acme/a.py:1: [C0114(missing-module-docstring), ] Missing module docstring\n\
                   addons/acme/a.py:7: [E1101(no-member), Sale.go] Instance of 'Sale' has no 'x' member\n\
                   addons/acme/a.py:9: [W8150(odoo-addons-relative-import), ] Same Odoo module absolute import\n";
        let found = read(LintFormat::PylintParseable, out, "");
        let got: Vec<_> = found
            .iter()
            .map(|f| (f.line, f.code.as_deref(), f.severity))
            .collect();
        assert_eq!(
            got,
            [
                (Some(1), Some("C0114"), Some(Severity::Note)),
                (Some(7), Some("E1101"), Some(Severity::Error)),
                (Some(9), Some("W8150"), Some(Severity::Warning)),
            ]
        );
        assert_eq!(found[1].message, "Instance of 'Sale' has no 'x' member");

        let json = r#"[{"type": "warning", "module": "acme", "obj": "", "line": 3, "column": 0,
            "endLine": 3, "endColumn": 9, "path": "addons/acme/a.py", "symbol": "unused-import",
            "message": "Unused import os", "message-id": "W0611"}]"#;
        let found = read(LintFormat::PylintJson, json, "");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].column, Some(1), "pylint's columns are 0-based");
        assert_eq!(found[0].severity, Some(Severity::Warning));
        assert_eq!(found[0].code.as_deref(), Some("W0611"));
        assert_eq!(found[0].message, "Unused import os (unused-import)");
        let json2 = r#"{"messages": [{"type": "error", "path": "b.py", "line": 1, "column": 4,
            "messageId": "E0401", "symbol": "import-error", "message": "Unable to import 'x'",
            "module": "b", "obj": "", "absolutePath": "/proj/b.py", "endLine": null, "endColumn": null,
            "confidence": "UNDEFINED"}], "statistics": {}}"#;
        let found = read(LintFormat::PylintJson, json2, "");
        assert_eq!(found[0].code.as_deref(), Some("E0401"));
        assert_eq!(found[0].severity, Some(Severity::Error));
        assert!(
            read(
                LintFormat::PylintJson,
                "Traceback (most recent call last):",
                ""
            )
            .is_empty()
        );
    }

    #[test]
    fn ruff_json_and_isort() {
        let json = r#"[{"cell": null, "code": "F401", "end_location": {"column": 10, "row": 1},
            "filename": "/proj/addons/acme/a.py", "fix": null, "location": {"column": 8, "row": 1},
            "message": "`os` imported but unused", "noqa_row": 1, "url": "https://x"}]"#;
        let found = read(LintFormat::RuffJson, json, "");
        assert_eq!(found[0].file.as_deref(), Some("addons/acme/a.py"));
        assert_eq!((found[0].line, found[0].column), (Some(1), Some(8)));

        let stderr =
            "ERROR: /proj/addons/acme/a.py Imports are incorrectly sorted and/or formatted.\n";
        let stdout = "--- /proj/addons/acme/a.py:before\t2026-12-01 10:00:00\n\
                      +++ /proj/addons/acme/a.py:after\t2026-12-01 10:00:00\n\
                      @@ -2,3 +2,3 @@\n-import sys\n+import os\n";
        let found = read(LintFormat::Isort, stdout, stderr);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].file.as_deref(), Some("addons/acme/a.py"));
        assert_eq!(found[0].line, Some(2));
        assert_eq!(found[0].code.as_deref(), Some("isort"));
        assert_eq!(
            found[0].message,
            "Imports are incorrectly sorted and/or formatted."
        );
    }

    #[test]
    fn a_regex_with_named_groups() {
        let re =
            Regex::new(r"^(?P<severity>\w+): (?P<file>[^ ]+) line (?P<line>\d+): (?P<message>.*)$")
                .expect("pattern");
        let found = parse(
            LintFormat::Regex,
            Some(&re),
            "warning: a.xml line 4: deprecated <tree>\n",
            "error: b.xml line 1: not well-formed\n",
            Path::new("/proj"),
        );
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].severity, Some(Severity::Warning));
        assert_eq!(found[1].severity, Some(Severity::Error));
        assert_eq!(found[1].file.as_deref(), Some("b.xml"));
        assert_eq!(found[0].code, None);
    }
}
