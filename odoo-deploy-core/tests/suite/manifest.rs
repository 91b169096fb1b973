//! Manifests: differential tests against Python 3.11's `ast.literal_eval` + `json.dumps`,
//! the invalid corpus with its diagnostics, and robustness on hostile input.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};
use odoo_deploy_core::manifest::{
    AutoInstall, ErrorKind, Manifest, ManifestError, ValueKind, literal_eval,
};

fn fixtures_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/manifests")
        .join(kind)
}

/// `(file name, bytes)` of every fixture in `fixtures/manifests/<kind>`, sorted.
fn corpus(kind: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(fixtures_dir(kind))
        .expect("fixtures directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read fixture"))
        })
        .collect();
    files.sort();
    assert!(files.len() >= 10, "too few {kind} fixtures");
    files
}

/// What Python did with one text.
#[derive(Debug, Clone, PartialEq)]
enum Oracle {
    /// `ast.literal_eval` raised.
    EvalError(String),
    /// Evaluated, but `json.dumps` raised.
    JsonError(String),
    /// Evaluated and dumped.
    Json(String),
}

const ORACLE: &str = r#"
import ast, json, sys, warnings
warnings.simplefilter("ignore")
texts = json.load(sys.stdin)
out = []
for t in texts:
    try:
        v = ast.literal_eval(t)
    except BaseException as e:
        out.append(["eval", type(e).__name__ + ": " + str(e)])
        continue
    try:
        out.append(["json", json.dumps(v, default=list)])
    except BaseException as e:
        out.append(["json_error", type(e).__name__ + ": " + str(e)])
json.dump(out, sys.stdout)
"#;

/// Run every text through ONE python3 process. No python3 is a failure, not a skip.
#[allow(clippy::disallowed_methods)] // Python itself is the oracle: a test-only process.
fn python(texts: &[String]) -> Vec<Oracle> {
    let mut child = std::process::Command::new("python3")
        .args(["-c", ORACLE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is required for the manifest differential tests");
    let input = serde_json::to_vec(texts).expect("texts to JSON");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("python3 output");
    writer
        .join()
        .expect("writer thread")
        .expect("write to python3");
    assert!(
        output.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<(String, String)> =
        serde_json::from_slice(&output.stdout).expect("python3 answer is JSON");
    assert_eq!(results.len(), texts.len());
    let version = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .expect("python3 --version");
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.starts_with("Python 3.11"),
        "the oracle is Python 3.11, found {version}"
    );
    results
        .into_iter()
        .map(|(kind, text)| match kind.as_str() {
            "eval" => Oracle::EvalError(text),
            "json_error" => Oracle::JsonError(text),
            _ => Oracle::Json(text),
        })
        .collect()
}

/// What we did with one text, in the oracle's terms.
fn ours(text: &str) -> Oracle {
    match literal_eval(text) {
        Err(e) => Oracle::EvalError(e.to_string()),
        Ok(v) => match v.to_python_json() {
            Ok(json) => Oracle::Json(json),
            Err(e) => Oracle::JsonError(e.message),
        },
    }
}

/// Compare: same JSON when both succeed; same outcome class otherwise.
fn differential(label: &str, texts: &[String]) -> Vec<Oracle> {
    compare(label, texts, true)
}

/// Compare with Python; `exact` also compares the JSON text (else only the outcome:
/// value, JSON error or evaluation error).
fn compare(label: &str, texts: &[String], exact: bool) -> Vec<Oracle> {
    let expected = python(texts);
    let mut failures = Vec::new();
    for (i, (text, want)) in texts.iter().zip(&expected).enumerate() {
        let got = ours(text);
        let same = match (&got, want) {
            (Oracle::Json(a), Oracle::Json(b)) => !exact || a == b,
            (Oracle::EvalError(_), Oracle::EvalError(_))
            | (Oracle::JsonError(_), Oracle::JsonError(_)) => true,
            _ => false,
        };
        if !same {
            failures.push(format!(
                "#{i} {text:?}\n    python: {want:?}\n    odd:    {got:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{label}: {} of {} differ from Python:\n{}",
        failures.len(),
        texts.len(),
        failures
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    expected
}

#[test]
fn valid_corpus_matches_python() {
    let files = corpus("valid");
    let texts: Vec<String> = files
        .iter()
        .map(|(name, bytes)| String::from_utf8(bytes.clone()).unwrap_or_else(|_| panic!("{name}")))
        .collect();
    let expected = python(&texts);
    for ((name, _), want) in files.iter().zip(&expected) {
        assert!(
            !matches!(want, Oracle::EvalError(_)),
            "valid/{name} is refused by Python: {want:?}"
        );
    }
    let outcomes = differential("valid corpus", &texts);
    assert!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Oracle::Json(_)))
            .count()
            >= 10
    );
}

#[test]
fn invalid_corpus_is_refused_by_both() {
    let files = corpus("invalid");
    let texts: Vec<String> = files
        .iter()
        .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
        .collect();
    let expected = python(&texts);
    for ((name, bytes), want) in files.iter().zip(&expected) {
        // Non-UTF-8 files never reach literal_eval in Odoo: reading them fails.
        if std::str::from_utf8(bytes).is_ok() {
            assert!(
                matches!(want, Oracle::EvalError(_)),
                "invalid/{name} is accepted by Python: {want:?}"
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let addon = dir.path().join("some_addon");
        std::fs::create_dir(&addon).expect("addon dir");
        std::fs::write(addon.join("__manifest__.py"), bytes).expect("write manifest");
        let err = match Manifest::from_dir(&addon) {
            Err(e) => e,
            Ok(m) => panic!("invalid/{name} parsed: {m:?}"),
        };
        let span = err.span().expect("a span");
        let source = err.source_code().expect("source attached");
        let len = source
            .read_span(&span.into(), 0, 0)
            .expect("span inside the source")
            .data()
            .len();
        assert!(
            span.offset + span.len <= bytes.len().max(len),
            "{name}: span {span:?}"
        );
        assert!(err.code().is_some(), "{name}: no code");
    }
}

/// The text under an error's span.
fn pointed(name: &str) -> (ManifestError, String) {
    let path = fixtures_dir("invalid").join(name);
    let bytes = std::fs::read(&path).expect("fixture");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let shown = Path::new("invalid").join(name);
    let err = Manifest::parse("x", &shown, &text).expect_err(name);
    let span = err.span().expect("span");
    let under = text[span.offset..span.offset + span.len].to_owned();
    (err, under)
}

#[test]
fn errors_point_at_the_offending_text() {
    let cases = [
        ("name.py", "base", ErrorKind::NotLiteral),
        ("call.py", "_(", ErrorKind::NotLiteral),
        ("attribute.py", "odoo.", ErrorKind::NotLiteral),
        (
            "docstring_before_dict.py",
            "\"\"\"My module.\"\"\"",
            ErrorKind::Syntax,
        ),
        ("assignment.py", "manifest", ErrorKind::Syntax),
        ("fstring.py", "f'x{1}'", ErrorKind::NotLiteral),
        ("bad_hex_escape.py", "\\x4", ErrorKind::Syntax),
        ("leading_zero.py", "010", ErrorKind::Syntax),
        ("unbalanced_close.py", "]", ErrorKind::Syntax),
        ("never_closed.py", "{", ErrorKind::Syntax),
        ("mismatched.py", "]", ErrorKind::Syntax),
        ("set_call_with_args.py", "set([", ErrorKind::NotLiteral),
        ("two_dicts.py", "{", ErrorKind::Syntax),
        ("operator.py", "*", ErrorKind::NotLiteral),
        ("plus_int.py", "1 + 2", ErrorKind::NotLiteral),
        ("double_minus.py", "--1", ErrorKind::NotLiteral),
        ("bool_minus.py", "-True", ErrorKind::NotLiteral),
        ("str_bytes_mix.py", "'a' b'b'", ErrorKind::Syntax),
        ("non_ascii_bytes.py", "é", ErrorKind::Syntax),
        ("missing_comma.py", ":", ErrorKind::Syntax),
        ("unhashable_key.py", "['a']", ErrorKind::Value),
        ("indented_second_line.py", "  ", ErrorKind::Syntax),
        ("bom.py", "\u{feff}", ErrorKind::Syntax),
        ("null_byte.py", "\0", ErrorKind::Syntax),
        ("lambda.py", "lambda", ErrorKind::NotLiteral),
        ("subscript.py", "['a', 'b'][", ErrorKind::NotLiteral),
        ("bad_unicode_escape.py", "\\U00110000", ErrorKind::Syntax),
        (
            "unknown_name_escape.py",
            "\\N{NO SUCH CHARACTER NAME}",
            ErrorKind::Unsupported,
        ),
        ("invalid_decimal.py", "1_", ErrorKind::Syntax),
        ("unterminated_string.py", "'oops}", ErrorKind::Syntax),
        ("trailing_indent.py", "   ", ErrorKind::Syntax),
        ("empty.py", "", ErrorKind::Syntax),
    ];
    for (name, text, kind) in cases {
        let (err, under) = pointed(name);
        assert_eq!(under, text, "{name}: {err}");
        assert_eq!(err.kind(), kind, "{name}: {err}");
    }
    let (err, _) = pointed("bad_hex_escape.py");
    assert_eq!(err.kind().code(), "odd::manifest::syntax");
}

#[test]
fn bad_utf8_is_a_diagnostic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addon = dir.path().join("latin1");
    std::fs::create_dir(&addon).expect("dir");
    std::fs::write(addon.join("__manifest__.py"), b"{'author': 'Jos\xe9'}\n").expect("write");
    let err = Manifest::from_dir(&addon).expect_err("latin-1 is refused");
    assert_eq!(err.kind(), ErrorKind::Encoding);
    assert_eq!(err.span().map(|s| s.offset), Some(15));
    assert!(err.message().contains("0xe9"), "{}", err.message());
}

fn render(err: &ManifestError) -> String {
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(80)
        .render_report(&mut out, err)
        .expect("render");
    out
}

#[test]
fn rendered_diagnostics() {
    insta::assert_snapshot!(render(&pointed("name.py").0), @r#"
    odd::manifest::not_literal

      × the name `base` is not a literal
       ╭─[invalid/name.py:1:13]
     1 │ {'depends': base}
       ·             ──┬─
       ·               ╰── a name
       ╰────
      help: a manifest is read with ast.literal_eval: only strings, bytes,
            numbers, True, False, None, lists, tuples, dicts, sets and `set()` are
            allowed
    "#);
    insta::assert_snapshot!(render(&pointed("docstring_before_dict.py").0), @r#"
    odd::manifest::syntax

      × a string before the manifest dict makes a second statement
       ╭─[invalid/docstring_before_dict.py:1:1]
     1 │ """My module."""
       · ────────┬───────
       ·         ╰── this string is a statement of its own
     2 │ {
       ╰────
      help: ast.literal_eval accepts exactly one expression: turn the docstring
            into # comments
    "#);
    insta::assert_snapshot!(render(&pointed("bad_hex_escape.py").0), @r#"
    odd::manifest::syntax

      × truncated \xXX escape
       ╭─[invalid/bad_hex_escape.py:1:12]
     1 │ {'name': 'a\x4'}
       ·            ─┬─
       ·             ╰── needs 2 hex digits
       ╰────
    "#);
}

#[test]
fn typed_model() {
    let path = fixtures_dir("valid").join("odoo_sale_like.py");
    let text = std::fs::read_to_string(&path).expect("fixture");
    let m = Manifest::parse("sale_extras", &path, &text).expect("valid manifest");
    assert_eq!(m.name, "sale_extras");
    assert_eq!(m.version.as_deref(), Some("17.0.1.2.0"));
    assert_eq!(
        m.depends_names().collect::<Vec<_>>(),
        ["sale", "account", "portal"]
    );
    let d = &m.depends[1];
    assert_eq!(
        &text[d.span.offset..d.span.offset + d.span.len],
        "'account'"
    );
    assert_eq!(
        m.auto_install,
        AutoInstall::When(vec!["sale".to_owned(), "account".to_owned()])
    );
    assert!(m.installable);
    assert!(!m.application);
    assert_eq!(m.license.as_deref(), Some("LGPL-3"));
    assert_eq!(m.data.len(), 3);
    assert_eq!(m.external_dependencies.python, ["phonenumbers"]);
    assert_eq!(m.title.as_deref(), Some("Sales Extras"));
    assert!(m.other.contains_key("assets"));
    assert!(matches!(m.other["sequence"].kind, ValueKind::Int(_)));
    let json = serde_json::to_value(&m).expect("serialize");
    assert_eq!(
        json["depends"],
        serde_json::json!(["sale", "account", "portal"])
    );
    assert_eq!(json["other"]["sequence"], serde_json::json!(15));
    assert_eq!(json["auto_install"], serde_json::json!(["sale", "account"]));

    let old = fixtures_dir("valid").join("openerp_old_style.py");
    let text = std::fs::read_to_string(&old).expect("fixture");
    let m = Manifest::parse("old", &old, &text).expect("old manifest");
    assert_eq!(m.author.as_deref(), Some("José & Co"));
    assert_eq!(m.auto_install, AutoInstall::No);
    let json = serde_json::to_value(&m).expect("serialize");
    assert_eq!(json["auto_install"], serde_json::json!(false));
    assert_eq!(json["installable"], serde_json::json!(true));
    assert_eq!(
        json["other"]["update_xml"],
        serde_json::json!(["old_view.xml"])
    );

    let bridge = fixtures_dir("valid").join("auto_install_true.py");
    let text = std::fs::read_to_string(&bridge).expect("fixture");
    let m = Manifest::parse("bridge", &bridge, &text).expect("bridge manifest");
    assert_eq!(m.auto_install, AutoInstall::Yes);
    assert!(m.auto_install.is_auto());
    let json = serde_json::to_value(&m).expect("serialize");
    assert_eq!(json["auto_install"], serde_json::json!(true));
    assert_eq!(json["name"], serde_json::json!("bridge"));
    assert_eq!(json["title"], serde_json::json!("Bridge"));
    assert_eq!(m.source(), text);
    let span = m.value_span("auto_install").expect("span");
    assert_eq!(&text[span.offset..span.offset + span.len], "True");
    let span = m.key_span("version").expect("span");
    assert_eq!(&text[span.offset..span.offset + span.len], "'version'");
}

#[test]
fn typed_model_errors_point_at_values() {
    let cases = [
        (
            "{'depends': 'base'}",
            "'base'",
            "`depends` must be a list of str, not str",
        ),
        (
            "{'depends': ['base', 42]}",
            "42",
            "`depends` must be a list of str, but holds a int",
        ),
        (
            "{'version': 1.0}",
            "1.0",
            "`version` must be a str, not float",
        ),
        (
            "{'installable': 1}",
            "1",
            "`installable` must be True or False, not int",
        ),
        (
            "{'depends': ['a'], 'auto_install': ['a', 'b']}",
            "'b'",
            "auto_install trigger `b` is not in depends",
        ),
        (
            "['not', 'a', 'dict']",
            "['not', 'a', 'dict']",
            "the manifest is a list, not a dict",
        ),
        ("{1: 'x'}", "1", "manifest keys must be str, not int"),
    ];
    for (text, under, message) in cases {
        let err = Manifest::parse("m", Path::new("m/__manifest__.py"), text).expect_err(text);
        let span = err.span().expect("span");
        assert_eq!(&text[span.offset..span.offset + span.len], under, "{text}");
        assert_eq!(err.message(), message, "{text}");
    }
    let m = Manifest::parse(
        "m",
        Path::new("m/__manifest__.py"),
        "{'depends': ('a', 'b'), 'auto_install': {'b'}}",
    )
    .expect("tuple depends and set auto_install are fine");
    assert_eq!(m.auto_install, AutoInstall::When(vec!["b".to_owned()]));
}

#[test]
fn from_dir_without_manifest_is_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(Manifest::from_dir(dir.path()).expect("no error").is_none());
    std::fs::write(dir.path().join("__openerp__.py"), "{'name': 'Old'}").expect("write");
    let m = Manifest::from_dir(dir.path()).expect("ok").expect("found");
    assert_eq!(m.title.as_deref(), Some("Old"));
    assert!(m.path.ends_with("__openerp__.py"));
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Generates manifest-like texts using every literal form Python accepts.
#[derive(Debug)]
struct Gen {
    rng: Rng,
}

impl Gen {
    /// Whitespace, comments and continuations between tokens.
    fn gap(&mut self, in_brackets: bool) -> String {
        let r = &mut self.rng;
        if in_brackets {
            r.pick(&[
                "",
                "",
                " ",
                " ",
                "  ",
                "\t",
                "\n",
                "\n    ",
                " # note ✓\n  ",
                "\r",
                "\r\n",
                " \\\n ",
                "\n# own line\n",
                "\x0c",
            ])
            .to_owned()
        } else {
            r.pick(&["", "", " ", " ", "\t", " \\\n", "\\\n  "])
                .to_owned()
        }
    }

    fn int(&mut self) -> String {
        let r = &mut self.rng;
        match r.below(10) {
            0 => r.pick(&["0", "00", "0_0", "000"]).to_owned(),
            1 => format!("0{}{:x}", r.pick(&["x", "X"]), r.next() >> r.below(64)),
            2 => format!("0{}{:o}", r.pick(&["o", "O"]), r.next() >> r.below(64)),
            3 => format!(
                "0{}{:b}",
                r.pick(&["b", "B"]),
                r.next() >> (r.below(30) + 34)
            ),
            4 => {
                let digits: String = (0..r.below(40) + 20)
                    .map(|i| char::from(b'0' + (r.below(10) as u8).max(u8::from(i == 0))))
                    .collect();
                digits
            }
            5 => "0x_dead_BEEF".to_owned(),
            6 => {
                let n = r.next() >> r.below(64);
                let s = n.to_string();
                // Underscores between digits.
                let mut out = String::new();
                for (i, c) in s.chars().enumerate() {
                    if i > 0 && r.percent(20) {
                        out.push('_');
                    }
                    out.push(c);
                }
                out
            }
            _ => (r.below(1000)).to_string(),
        }
    }

    fn float(&mut self) -> String {
        let r = &mut self.rng;
        match r.below(8) {
            0 => r
                .pick(&[
                    "1.5",
                    ".5",
                    "5.",
                    "1e5",
                    "1E-5",
                    "1_0.0_1",
                    "1e400",
                    "0.1",
                    "07.5",
                    "0e0",
                    "00.5",
                    "1.e3",
                    "1e-320",
                    "123456789.123456789",
                    "1e16",
                    "1e15",
                    "0.0001",
                    "0.00001",
                    "2.5e-3",
                    "1_000.5",
                    "1E+5_0",
                    "9007199254740993.0",
                ])
                .to_owned(),
            1 | 2 => {
                let f = f64::from_bits(r.next());
                if f.is_finite() {
                    format!("{f:e}")
                } else {
                    "1.0".to_owned()
                }
            }
            3 | 4 => {
                let f = f64::from_bits(r.next());
                if f.is_finite() && f.abs() < 1e30 && f.abs() > 1e-30 {
                    format!("{f}")
                } else {
                    "2.25".to_owned()
                }
            }
            _ => format!("{}.{}", r.below(100_000), r.below(1000)),
        }
    }

    fn number(&mut self) -> String {
        let text = match self.rng.below(10) {
            0..=4 => self.int(),
            5..=8 => self.float(),
            _ => {
                let r = &mut self.rng;
                r.pick(&["1j", "2.5J", "1+2j", "-1-2j", "1e400j", "0j", "(1)+(2j)"])
                    .to_owned()
            }
        };
        match self.rng.below(10) {
            0 | 1 => format!("-{text}"),
            2 => format!("+{text}"),
            3 => format!("- {text}"),
            4 if !text.contains('+') => format!("-({text})"),
            _ => text,
        }
    }

    fn string_piece(&mut self, quote: char, triple: bool, raw: bool, bytes: bool) -> String {
        let r = &mut self.rng;
        let other = if quote == '\'' { "\"" } else { "'" };
        match r.below(12) {
            0..=3 => r
                .pick(&[
                    "a",
                    "Z",
                    "0",
                    " ",
                    "sale",
                    "web.assets",
                    "%",
                    "{}",
                    "#",
                    "\t",
                ])
                .to_owned(),
            4 if !bytes => r
                .pick(&[
                    "é", "ü", "✓", "😀", "日本", "\u{a0}", "\u{2028}", "Ω", "\u{7f}",
                ])
                .to_owned(),
            5 => other.to_owned(),
            6 if triple => r.pick(&["\n", "\r\n", "\n  "]).to_owned(),
            _ if raw => {
                let esc = r.pick(&["\\d", "\\n", "\\\\", "\\x41", "\\N{BULLET}", "\\u00e9"]);
                if r.percent(10) {
                    format!("\\{quote}")
                } else {
                    esc.to_owned()
                }
            }
            _ => {
                let mut escapes = vec![
                    "\\n",
                    "\\t",
                    "\\\\",
                    "\\'",
                    "\\\"",
                    "\\a",
                    "\\b",
                    "\\f",
                    "\\v",
                    "\\r",
                    "\\0",
                    "\\12",
                    "\\377",
                    "\\777",
                    "\\x41",
                    "\\xff",
                    "\\xE9",
                    "\\d",
                    "\\w",
                    "\\8",
                    "\\\n",
                    "\\u00e9",
                    "\\U0001F600",
                    "\\N{BULLET}",
                    "\\N{em dash}",
                    "\\N{LATIN SMALL LETTER E WITH ACUTE}",
                    "\\N{SNOWMAN}",
                    "\\u2028",
                ];
                if triple {
                    escapes.push("\\\r\n");
                }
                r.pick(&escapes).to_owned()
            }
        }
    }

    fn string(&mut self, bytes: bool, in_brackets: bool) -> String {
        let parts = 1 + usize::from(self.rng.percent(20)) + usize::from(self.rng.percent(10));
        let mut out = String::new();
        for i in 0..parts {
            if i > 0 {
                out.push_str(&self.gap(in_brackets));
                if out.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '\'' || c == '"') {
                    out.push(' ');
                }
            }
            let r = &mut self.rng;
            let prefix = if bytes {
                r.pick(&[
                    "b", "B", "br", "Br", "bR", "BR", "rb", "rB", "Rb", "RB", "b", "b",
                ])
            } else {
                r.pick(&["", "", "", "", "r", "R", "u", "U"])
            };
            let raw = prefix.contains(['r', 'R']);
            let quote = if r.percent(50) { '\'' } else { '"' };
            let triple = r.percent(20);
            let q: String = std::iter::repeat_n(quote, if triple { 3 } else { 1 }).collect();
            let n = r.below(8);
            let mut body = String::new();
            for _ in 0..n {
                body.push_str(&self.string_piece(quote, triple, raw, bytes));
            }
            if triple && body.ends_with(quote) {
                body.push('.');
            }
            if raw && body.ends_with('\\') {
                body.push('x');
            }
            out.push_str(&format!("{prefix}{q}{body}{q}"));
        }
        out
    }

    fn scalar(&mut self, in_brackets: bool) -> String {
        match self.rng.below(14) {
            0..=4 => self.string(false, in_brackets),
            5 => self.string(true, in_brackets),
            6..=9 => self.number(),
            10 => self.rng.pick(&["True", "False", "None"]).to_owned(),
            11 => self.rng.pick(&["...", "set()", "set( )", "()"]).to_owned(),
            _ => self.int(),
        }
    }

    fn key(&mut self) -> String {
        match self.rng.below(20) {
            0..=9 => format!(
                "'{}'",
                self.rng.pick(&["name", "depends", "data", "a", "b"])
            ),
            10 => self
                .rng
                .pick(&["1", "True", "1.0", "0", "False", "-0.0", "(1+0j)"])
                .to_owned(),
            11 => self
                .rng
                .pick(&["None", "2.5", "1e400", "-7", "10**2"])
                .to_owned(),
            12 => "(1, 'a')".to_owned(),
            13 => "b'k'".to_owned(),
            14 if self.rng.percent(20) => "['unhashable']".to_owned(),
            _ => self.string(false, true),
        }
    }

    fn small_int_set(&mut self) -> String {
        // Ints 0..8 in ascending order: Python iterates them in the same order.
        let mut items = Vec::new();
        let mut v = 0;
        for _ in 0..self.rng.below(8) {
            v += self.rng.below(2);
            if v > 7 {
                break;
            }
            let forms: Vec<String> = match v {
                0 => vec!["0".into(), "False".into(), "0.0".into(), "0x0".into()],
                1 => vec!["1".into(), "True".into(), "1.0".into(), "0b1".into()],
                _ => vec![v.to_string(), format!("{v}.0"), format!("0o{v:o}")],
            };
            items.push(forms[self.rng.below(forms.len())].clone());
        }
        if items.is_empty() {
            return "set()".to_owned();
        }
        let gap = self.gap(true);
        format!("{{{gap}{}{gap}}}", items.join(&format!(",{gap}")))
    }

    fn value(&mut self, depth: usize, in_brackets: bool) -> String {
        if depth >= 4 || self.rng.percent(45) {
            return self.scalar(in_brackets);
        }
        let n = self.rng.below(5);
        let trailing = self.rng.percent(30);
        let (open, close) = match self.rng.below(7) {
            0 | 1 => ("[", "]"),
            2 => ("(", ")"),
            3 => return self.small_int_set(),
            4 => {
                let inner = self.value(depth + 1, true);
                let (a, b) = (self.gap(true), self.gap(true));
                return format!("({a}{inner}{b})");
            }
            _ => return self.dict(depth, n, trailing),
        };
        let mut items = Vec::new();
        for _ in 0..n {
            items.push(self.value(depth + 1, true));
        }
        let mut out = String::from(open);
        for (i, item) in items.iter().enumerate() {
            out.push_str(&self.gap(true));
            out.push_str(item);
            out.push_str(&self.gap(true));
            if i + 1 < items.len() || trailing || (open == "(" && items.len() == 1) {
                out.push(',');
            }
        }
        out.push_str(&self.gap(true));
        out.push_str(close);
        out
    }

    fn dict(&mut self, depth: usize, n: usize, trailing: bool) -> String {
        let mut out = String::from("{");
        for i in 0..n {
            out.push_str(&self.gap(true));
            out.push_str(&self.key());
            out.push_str(&self.gap(true));
            out.push(':');
            out.push_str(&self.gap(true));
            out.push_str(&self.value(depth + 1, true));
            if i + 1 < n || trailing {
                out.push(',');
            }
        }
        out.push_str(&self.gap(true));
        out.push('}');
        out
    }

    fn manifest(&mut self) -> String {
        let mut out = String::new();
        let r = &mut self.rng;
        out.push_str(r.pick(&[
            "",
            "",
            "# -*- coding: utf-8 -*-\n",
            "\n\n",
            "  ",
            "# c\n  # indented comment\n",
            "\\\n",
            "\x0c",
        ]));
        let body = match self.rng.below(20) {
            0 => {
                let (a, b) = (self.value(1, false), self.value(1, false));
                format!("{a},{}{b}", self.gap(false))
            }
            1 => format!("{},", self.value(1, false)),
            2 | 3 => self.value(0, false),
            _ => {
                let n = self.rng.below(8);
                let trailing = self.rng.percent(50);
                self.dict(0, n, trailing)
            }
        };
        out.push_str(&body);
        let r = &mut self.rng;
        out.push_str(r.pick(&["", "\n", "\n", "  # end\n", "\n\n# bye\n", "\r\n", " "]));
        out
    }
}

#[test]
fn generated_manifests_match_python() {
    let mut generator = Gen {
        rng: Rng(0x0dd_5eed_2026),
    };
    let mut texts: Vec<String> = (0..4000).map(|_| generator.manifest()).collect();
    // Truncations of some of them: mostly errors, which must be errors for both.
    let cut: Vec<String> = texts
        .iter()
        .take(1500)
        .filter_map(|t| {
            let at = generator.rng.below(t.len().max(1));
            t.is_char_boundary(at).then(|| t[..at].to_owned())
        })
        .collect();
    texts.extend(cut);
    // One-character insertions: near-valid texts, where accepting too much shows.
    let mutated: Vec<String> = texts
        .iter()
        .take(2000)
        .filter_map(|t| {
            let at = generator.rng.below(t.len() + 1);
            let c = [
                "'", "\"", "\\", "{", "}", "[", "]", "(", ")", ",", ":", "#", "\n", "-", "+", ".",
                "0", "x", "j", "e", "b", "r", "_", " ", "\t", "f", "=", "*",
            ][generator.rng.below(28)];
            t.is_char_boundary(at)
                .then(|| format!("{}{c}{}", &t[..at], &t[at..]))
        })
        .collect();
    // Sets of small ints may come out of order once mutated: compare outcomes only.
    compare("mutated", &mutated, false);
    let started = Instant::now();
    let outcomes = differential("generated", &texts);
    assert!(started.elapsed() < Duration::from_secs(60));
    // The generator must mostly make valid manifests, and some of each outcome.
    let whole = &outcomes[..4000];
    let json = whole
        .iter()
        .filter(|o| matches!(o, Oracle::Json(_)))
        .count();
    let json_errors = whole
        .iter()
        .filter(|o| matches!(o, Oracle::JsonError(_)))
        .count();
    let eval_errors = outcomes
        .iter()
        .filter(|o| matches!(o, Oracle::EvalError(_)))
        .count();
    assert!(
        json > 2000,
        "only {json} of 4000 generated manifests are valid JSON"
    );
    assert!(json_errors > 50, "{json_errors}");
    assert!(eval_errors > 500, "{eval_errors}");
}

/// CPU time of the calling thread (Linux: utime + stime from /proc, in clock ticks of
/// 10 ms).
fn thread_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}

#[test]
fn ten_megabytes_parse_quickly() {
    let mut text = String::from("{\n    'name': 'Big',\n    'data': [\n");
    let mut i = 0u64;
    while text.len() < 10 * 1024 * 1024 {
        text.push_str(&format!(
            "        'views/generated_view_{i:08}.xml',  # {i}\n"
        ));
        i += 1;
    }
    text.push_str("    ],\n}\n");
    let (cpu, started) = (thread_cpu_time(), Instant::now());
    let m = Manifest::parse("big", Path::new("big/__manifest__.py"), &text).expect("parses");
    let (cpu, wall) = (thread_cpu_time() - cpu, started.elapsed());
    assert_eq!(m.data.len() as u64, i);
    // CPU time: the machine running the tests is shared, wall time is noise.
    assert!(
        cpu < Duration::from_millis(600),
        "10 MB took {cpu:?} of CPU ({wall:?} wall)"
    );

    // One 10 MB string and one 10 MB comment are linear too.
    let long = format!(
        "{{'description': '{}'}}  # {}\n",
        "x".repeat(5 << 20),
        "y".repeat(5 << 20)
    );
    let started = Instant::now();
    let v = literal_eval(&long).expect("parses");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        v.get("description").and_then(|d| d.as_str()).map(str::len),
        Some(5 << 20)
    );
}

#[test]
fn nesting_stops_at_python_limit_without_overflow() {
    for (open, close) in [("[", "]"), ("(", ")"), ("{'a':", "}")] {
        let ok = format!("{}1{}", open.repeat(200), close.repeat(200));
        literal_eval(&ok).unwrap_or_else(|e| panic!("200 levels of {open} are fine: {e}"));
        let deep = format!("{}1{}", open.repeat(1000), close.repeat(1000));
        let err = literal_eval(&deep).expect_err("1,000 levels");
        assert_eq!(err.kind(), ErrorKind::TooDeep);
        assert_eq!(err.span().map(|s| s.offset), Some(200 * open.len()));
        assert_eq!(err.message(), "too many nested parentheses");
    }
    let unclosed = "[".repeat(100_000);
    assert_eq!(
        literal_eval(&unclosed).expect_err("deep").kind(),
        ErrorKind::TooDeep
    );
    let signs = format!("{}1", "-".repeat(100_000));
    assert_eq!(
        literal_eval(&signs).expect_err("signs").kind(),
        ErrorKind::NotLiteral
    );
    let many = format!("[{}]", "[1],".repeat(200_000));
    literal_eval(&many).expect("wide is fine");
}

#[test]
fn huge_numbers_follow_python_limits() {
    let digits = "1".repeat(4300);
    let v = literal_eval(&digits).expect("4300 digits");
    assert_eq!(v.to_python_json().expect("json"), digits);
    assert_eq!(
        literal_eval(&"1".repeat(4301)).expect_err("4301").kind(),
        ErrorKind::Syntax
    );
    // Hex literals have no limit; printing them in decimal does (Python's ValueError).
    let hex = format!("0x{}", "f".repeat(1_000_000));
    let started = Instant::now();
    let v = literal_eval(&hex).expect("big hex");
    assert!(started.elapsed() < Duration::from_secs(1));
    let err = v.to_python_json().expect_err("too many digits");
    assert!(
        err.message.starts_with("ValueError: Exceeds the limit"),
        "{}",
        err.message
    );
}

/// Everything about an error must be usable: span inside the text, renderable.
fn check_error(text: &str, err: &ManifestError) {
    let span = err.span().expect("span");
    assert!(
        span.offset + span.len <= text.len(),
        "span {span:?} outside {text:?}"
    );
    assert!(text.is_char_boundary(span.offset), "{text:?} {span:?}");
    assert!(!render(err).is_empty());
}

#[test]
fn hostile_input_never_panics() {
    let mut rng = Rng(0xbad_c0de);
    let mut seeds: Vec<Vec<u8>> = corpus("valid").into_iter().map(|(_, b)| b).collect();
    seeds.extend(corpus("invalid").into_iter().map(|(_, b)| b));
    let mut generator = Gen { rng: Rng(7) };
    seeds.extend((0..200).map(|_| generator.manifest().into_bytes()));
    let dir = tempfile::tempdir().expect("tempdir");
    let addon = dir.path().join("fuzz");
    std::fs::create_dir(&addon).expect("dir");
    for round in 0..6000 {
        let mut bytes = seeds[rng.below(seeds.len())].clone();
        match round % 4 {
            0 => bytes.truncate(rng.below(bytes.len() + 1)),
            1 => {
                for _ in 0..=rng.below(4) {
                    let at = rng.below(bytes.len() + 1);
                    let b = *b"'\"\\{}[](),:#\n\r-+.0xjeNbru_ \x00\xff\xc3"
                        .get(rng.below(31))
                        .unwrap_or(&b'x');
                    bytes.insert(at, b);
                }
            }
            2 => {
                if !bytes.is_empty() {
                    let at = rng.below(bytes.len());
                    bytes.remove(at);
                }
            }
            _ => bytes = (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match literal_eval(&text) {
            Ok(v) => {
                let _ = v.to_python_json();
                let _ = serde_json::to_string(&v);
            }
            Err(e) => check_error(&text, &e),
        }
        if let Err(e) = Manifest::parse("fuzz", Path::new("fuzz/__manifest__.py"), &text) {
            check_error(&text, &e);
        }
        // Through the file system (raw bytes, UTF-8 check) for a share of the rounds.
        if !rng.percent(5) {
            continue;
        }
        std::fs::write(addon.join("__manifest__.py"), &bytes).expect("write");
        if let Err(e) = Manifest::from_dir(&addon) {
            // For bad UTF-8 the error's source is the lossy text, like `text`.
            check_error(&text, &e);
        }
    }
}

#[test]
fn python_edge_cases() {
    // Each verified with Python 3.11 in the differential run below.
    let texts: Vec<String> = [
        "  {}",
        "\t{}",
        "\n  {}",
        "\n{}",
        "{}\n  ",
        "{}\n  \n",
        "{}\n  #c",
        "\n\x0c  {}",
        "\n  \x0c{}",
        "\t#c\n {}",
        "\\\n{}",
        "{}\\\n",
        "{} \\\n",
        "1,\\\n  2",
        "{}\x0c",
        "\x0c {}",
        " \x0c{}",
        "{}\x0b",
        "{}\u{a0}",
        "'a\r\nb'",
        "'''a\r\nb'''",
        "'''a\rb'''",
        "r'a\\\r\nb'",
        "'a\\\r\nb'",
        "{}\r",
        "{\r1:2}",
        "1, 2",
        "1,",
        "(1,)",
        "()",
        "set()",
        "set(())",
        "-1",
        "+1",
        "--1",
        "-(1)",
        "-(-1)",
        "1+2j",
        "1-2j",
        "-1+2j",
        "1+2",
        "(1)+2j",
        "1j+2",
        "-1j",
        "1+-2j",
        "(1+2j)+3j",
        "1+(2j)",
        "-(1+2j)",
        "1e400",
        "-1e400",
        "1e400j",
        "010",
        "00",
        "0_0",
        "0_7",
        "07.5",
        "07e1",
        "07j",
        "1__0",
        "0x_1",
        "0x",
        "0b2",
        "0o8",
        "1_",
        "1e",
        "1e+",
        "1.e5",
        "1._5",
        "1.real",
        "1 .real",
        "0xfor",
        "1if 1else 2",
        "1or 2",
        "'\\d'",
        "b'\\N{BULLET}'",
        "b'\\u1234'",
        "u'x' 'y'",
        "'x' b'y'",
        "f'x'",
        "F'x'",
        "rf'x'",
        "'a' f'b'",
        "rb'x'",
        "Rb'x'",
        "bR'x'",
        "ur'x'",
        "bu''",
        "'\\x4'",
        "'\\400'",
        "b'\\400'",
        "b'é'",
        "br'é'",
        "'\\1234'",
        "'\\N{bullet}'",
        "'\\N{ BULLET}'",
        "'\\N{}'",
        "'\\N'",
        "'\\N{BULLET'",
        "'\\u12'",
        "'\\U1234'",
        "'\\U00110000'",
        "'\\U0010FFFF'",
        "'''a''''",
        "'''a'''''",
        "''''''",
        "''",
        "\"\"\"\"\"\"",
        "{1:2,}",
        "[,]",
        "(,)",
        "{,}",
        "[1,,2]",
        "...",
        "x",
        "True",
        "None",
        "-True",
        "[1][0]",
        "{'a':1}\n{'b':2}",
        "'doc'\n{}",
        "x = {}",
        "x: int = 1",
        "{}\x00",
        "{1:'a',True:'b',1.0:'c'}",
        "{1,True,1.0}",
        "{(1,2):1}",
        "{[1]:1}",
        "{(1,[2]):1}",
        "{b'a':1}",
        "{1j:1}",
        "{...:1}",
        "{1.5:1, None:2, False:3, 1e400: 4, -1e400: 5}",
        "{-0.0: 1, 0: 2}",
        "{0j: 1, 0: 2}",
        "{1e20: 'f', 100000000000000000000: 'i'}",
        "{(1, 2): 'a', (1.0, 2.0): 'b'}",
        "[1e16, 1e-5, 1e15, 123456789012345678.0, 0.0001, 0.1, -0.0, 1.5e300, 5e-324, 2.5]",
        "[1e22, 1e21, 9007199254740993, 0.1+0.2j]",
        "{'a': 1, 'a': 2, 'b': 3}",
        "[\x0c1]",
        "[1\\\n]",
        "{'a' # c\n : 1}",
        "(1 # c\n, 2)",
        "[1]\n#x\n",
        "\u{feff}{}",
        "[1, 2][",
        "{'a': 1}.get('a')",
        "[*a]",
        "{**a}",
        "(yield)",
        "lambda: 1",
        "not True",
        "1 < 2",
        "[i for i in ()]",
        "{'a'}",
        "{'a', 'a'}",
        "b'a' b'b'",
        "b'a' 'b'",
        "[1,\n2]",
        "1,\n2",
        "(1,\n2)",
        "# only a comment",
        "",
        " ",
        "\n",
        "\\",
        "'\\",
        "'''",
        "'a\\\nb'",
        "r'\\'",
        "r'\\''",
        "'\\''",
        "'\\\\'",
        "0 if 1 else 2",
        "1 2",
        "'a' 1",
        "{1: 2, 3}",
        "{1, 2: 3}",
        "{1: 2 3: 4}",
        "[1 2]",
        "(1 2)",
        "[1,]",
        "(1)",
        "((1,2))",
        "0.0",
        "-0",
        "+0.0",
        "- 0.0",
        "1E5",
        "1e-5",
        "1e308",
        "1.7976931348623157e308",
        "1.7976931348623159e308",
        "2.2250738585072014e-308",
        "4.9e-324",
        "2e-324",
        "0b_1",
        "0b1_",
        "0o_7",
        "0x_",
        "1_000j",
        "1_000.000_1e1_0",
        "1e1_0",
        "\u{2028}{}",
        "{}\u{2028}",
        "'\u{2028}'",
        "é",
        "{'é': 1}",
        "{1: 'é'}",
        "\\\n  {}",
        "\\\n\n{}",
        "{}\r\n  ",
        "{}\r  ",
        "#c\r{}",
        "[1,\r2]",
        "'''a\\\rb'''",
        "{'a': 1}  # c\\\n",
        "1 \\\n+ 2j",
        "(1\n+\n2j)",
        "{'k': 'v' # c\n 'w'}",
        "[0x1for x in ()]",
        "0b1_0",
        "0o1_7",
        "0xA_b",
        "1_0e1_0j",
        "(set)()",
        "((set))()",
        "( set )( )",
        "(set)",
        "(1, set)",
        "(set, 1)",
        "-(set)()",
        "(set)(1)",
        "(-(set))",
        "(set)()()",
        "[(set)()]",
        "{(set)(): 1}",
        "(set,)",
        "set",
        "set()",
        "set(\n)",
        "set(1)",
        "set[1]",
        "{'a': set()}",
        "#c\n \\\n{}",
        "#c\n  \\\n  {}",
        "\\\n\\\n  {}",
        "\\\n#c\n  {}",
        "\\\n#c\n{}",
        "\\\n  #c\n{}",
        "\\\n",
        "{}\n\\\n",
        "\\\n{}\n",
        "\\ \n{}",
        "\x0c\\\n {}",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    differential("edge cases", &texts);
}

#[test]
fn valid_corpus_as_typed_manifests() {
    for (name, bytes) in corpus("valid") {
        let text = String::from_utf8(bytes).expect("UTF-8 fixture");
        let path = Path::new("valid").join(&name);
        match Manifest::parse("addon", &path, &text) {
            Ok(m) => assert_eq!(m.raw, literal_eval(&text).expect("same value"), "{name}"),
            Err(e) => {
                // Legal Python, but Odoo wants a dict with typed keys.
                assert!(
                    matches!(e.kind(), ErrorKind::NotDict | ErrorKind::Type),
                    "{name}: {e}"
                );
                assert!(
                    name == "tuple_top_level.py" || name == "numbers.py",
                    "{name}: {e}"
                );
            }
        }
    }
}
