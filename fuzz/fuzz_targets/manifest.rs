//! The manifest reader: `ast.literal_eval`'s rules, the typed model on top, and the
//! diagnostics `odd check` / `odd manifest` render. Bytes that are not UTF-8 go through
//! the file reader (`Manifest::from_dir`), which reports the encoding error.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use odoo_deploy_core::manifest::{self, Manifest, Span, Value, ValueKind};
use odoo_deploy_fuzz::check_diagnostic;

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        Ok(text) => {
            let path = Path::new("fuzzed/__manifest__.py");
            check(Manifest::parse("fuzzed", path, text), text);
            match manifest::literal_eval(text) {
                Ok(value) => check_literal(&value, text),
                Err(e) => check_diagnostic(&e, text),
            }
        }
        Err(_) => {
            let dir = addon_dir();
            std::fs::write(dir.join("__manifest__.py"), data).expect("write the manifest");
            let read = Manifest::from_dir(dir).map(|m| m.expect("the manifest was written"));
            check(read, &String::from_utf8_lossy(data));
        }
    }
});

/// One addon directory per fuzzing process, rewritten for each input.
fn addon_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir()
            .join(format!("odd-fuzz-manifest-{}", std::process::id()))
            .join("fuzzed");
        std::fs::create_dir_all(&dir).expect("create the addon directory");
        dir
    })
}

fn check(read: Result<Manifest, manifest::ManifestError>, text: &str) {
    match read {
        Ok(m) => {
            assert_eq!(m.source(), text);
            check_literal(&m.raw, text);
            for dep in &m.depends {
                check_span(dep.span, text);
            }
            for key in m.other.keys() {
                let value = m.value_span(key).expect("a key of `other` has a value");
                check_span(value, text);
                check_span(
                    m.key_span(key).expect("a key of `other` is in the dict"),
                    text,
                );
            }
        }
        Err(e) => check_diagnostic(&e, text),
    }
}

fn check_value(value: &Value, text: &str) {
    check_span(value.span, text);
    match &value.kind {
        ValueKind::Tuple(items) | ValueKind::List(items) | ValueKind::Set(items) => {
            for item in items {
                check_value(item, text);
            }
        }
        ValueKind::Dict(entries) => {
            for (k, v) in entries {
                check_value(k, text);
                check_value(v, text);
            }
        }
        _ => {}
    }
}

fn check_literal(value: &Value, text: &str) {
    check_value(value, text);
    // `odd manifest --json` prints the literal as Python's json.dumps would, or this
    // diagnostic, pointing into the manifest.
    if let Err(e) = value.to_python_json() {
        check_span(e.span, text);
        let report = miette::Report::new(e).with_source_code(text.to_owned());
        check_diagnostic(report.as_ref(), text);
    }
}

fn check_span(span: Span, text: &str) {
    let end = span
        .offset
        .checked_add(span.len)
        .expect("a span's end overflows");
    assert!(
        end <= text.len(),
        "span {span:?} is past the end of a {}-byte text",
        text.len()
    );
    assert!(
        text.is_char_boundary(span.offset) && text.is_char_boundary(end),
        "span {span:?} cuts a character"
    );
}
