//! `odd manifest`: one manifest, typed or as JSON.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use odoo_deploy_core::manifest::{AutoInstall, Manifest};

use crate::output::{self, CliError, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A manifest file, or an addon directory.
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// The literal as JSON, exactly as Python's `json.dumps(ast.literal_eval(text))`.
    #[arg(long)]
    json: bool,
}

/// The path is neither a manifest nor a directory holding one.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
enum PathError {
    #[error("no manifest in `{}`", path.display())]
    #[diagnostic(
        code(odd::manifest::not_found),
        help("an addon directory holds `__manifest__.py` (or `__openerp__.py`)")
    )]
    NoManifest { path: PathBuf },
    #[error("cannot read `{}`", path.display())]
    #[diagnostic(code(odd::manifest::io))]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn run(args: &Args) -> Result<Status, CliError> {
    // Every error here is the manifest's, or the path's.
    let manifest = load(&args.path).map_err(CliError::into_bad_input)?;
    if args.json {
        let json = manifest.raw.to_python_json().map_err(|error| {
            let source = miette::NamedSource::new(
                manifest.path.display().to_string(),
                Arc::<str>::from(manifest.source()),
            );
            CliError::bad_input(miette::Report::new(error).with_source_code(source))
        })?;
        output::print(&format!("{json}\n"))?;
    } else {
        output::print(&render(&manifest))?;
    }
    Ok(Status::Success)
}

fn load(path: &Path) -> Result<Manifest, CliError> {
    if path.is_dir() {
        return Manifest::from_dir(path)
            .map_err(CliError::diagnostic)?
            .ok_or_else(|| {
                CliError::diagnostic(PathError::NoManifest {
                    path: path.to_path_buf(),
                })
            });
    }
    let text = std::fs::read_to_string(path).map_err(|source| {
        CliError::diagnostic(PathError::Unreadable {
            path: path.to_path_buf(),
            source,
        })
    })?;
    // The module's name is its directory's name, as in Odoo.
    let name = path
        .canonicalize()
        .ok()
        .and_then(|p| {
            p.parent()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    Manifest::parse(&name, path, &text).map_err(CliError::diagnostic)
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

/// The typed model, one field a line.
fn render(manifest: &Manifest) -> String {
    let mut out = String::new();
    let mut field = |key: &str, value: &str| {
        let _ = writeln!(out, "{key:<14}{value}");
    };
    field("module", &manifest.name);
    field("file", &manifest.path.display().to_string());
    if let Some(title) = &manifest.title {
        field("name", title);
    }
    field(
        "version",
        manifest.version.as_deref().unwrap_or("- (Odoo uses 1.0)"),
    );
    let depends: Vec<String> = manifest.depends_names().map(str::to_owned).collect();
    field("depends", &list(&depends));
    let auto = match &manifest.auto_install {
        AutoInstall::No => "no".to_owned(),
        AutoInstall::Yes => "yes (when all depends are installed)".to_owned(),
        AutoInstall::When(list) if list.is_empty() => "always".to_owned(),
        AutoInstall::When(list) => format!("when {} installed", list.join(", ")),
    };
    field("auto_install", &auto);
    field("installable", yes_no(manifest.installable));
    field("application", yes_no(manifest.application));
    field(
        "license",
        manifest
            .license
            .as_deref()
            .unwrap_or("- (Odoo uses LGPL-3)"),
    );
    for (key, value) in [
        ("summary", &manifest.summary),
        ("category", &manifest.category),
        ("author", &manifest.author),
        ("website", &manifest.website),
    ] {
        if let Some(value) = value {
            field(key, value);
        }
    }
    field("data", &list(&manifest.data));
    field("demo", &list(&manifest.demo));
    let external = &manifest.external_dependencies;
    if !external.python.is_empty() || !external.bin.is_empty() {
        field(
            "external",
            &format!(
                "python: {}; bin: {}",
                list(&external.python),
                list(&external.bin)
            ),
        );
    }
    if !manifest.other.is_empty() {
        let keys: Vec<String> = manifest.other.keys().cloned().collect();
        field("other keys", &keys.join(", "));
    }
    out
}
