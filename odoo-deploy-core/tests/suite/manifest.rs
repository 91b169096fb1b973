//! Manifests: differential tests against Python 3.11's `ast.literal_eval` + `json.dumps`,
//! the invalid corpus with its diagnostics, and robustness on hostile input.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

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
fn differential(label: &str, texts: &[String]) {
    let expected = python(texts);
    let mut failures = Vec::new();
    for (i, (text, want)) in texts.iter().zip(&expected).enumerate() {
        let got = ours(text);
        let same = match (&got, want) {
            (Oracle::Json(a), Oracle::Json(b)) => a == b,
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
    differential("valid corpus", &texts);
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
