//! [`ManifestError`]: everything that can be wrong with a manifest, pointing at the text.

use std::path::PathBuf;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

use super::Span;

/// What kind of problem a [`ManifestError`] reports; each kind has its own diagnostic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// The file is not valid UTF-8 (Odoo reads it as UTF-8 text).
    Encoding,
    /// Python would raise `SyntaxError` (or `IndentationError`) compiling the text.
    Syntax,
    /// Valid Python, but not something `ast.literal_eval` evaluates (a name, a call, an operator…).
    NotLiteral,
    /// `ast.literal_eval` raises while building the value (unhashable key, overflow…).
    Value,
    /// More than 200 nested brackets (Python's own limit).
    TooDeep,
    /// The text is a literal, but not the dict Odoo requires.
    NotDict,
    /// A manifest key has the wrong type of value (`depends` not a list of str…).
    Type,
    /// Something odd does not support although Python does (lone surrogates, rare `\N{…}` names).
    Unsupported,
}

impl ErrorKind {
    /// The diagnostic code, e.g. `odd::manifest::syntax`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Io => "odd::manifest::io",
            ErrorKind::Encoding => "odd::manifest::encoding",
            ErrorKind::Syntax => "odd::manifest::syntax",
            ErrorKind::NotLiteral => "odd::manifest::not_literal",
            ErrorKind::Value => "odd::manifest::value",
            ErrorKind::TooDeep => "odd::manifest::too_deep",
            ErrorKind::NotDict => "odd::manifest::not_dict",
            ErrorKind::Type => "odd::manifest::type",
            ErrorKind::Unsupported => "odd::manifest::unsupported",
        }
    }
}

/// A manifest that cannot be used, with the file, its text and the offending span.
#[derive(Debug)]
pub struct ManifestError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    message: String,
    label: String,
    help: Option<String>,
    span: Option<Span>,
    path: PathBuf,
    src: Option<NamedSource<Arc<str>>>,
    io: Option<std::io::Error>,
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for ManifestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .io
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl ManifestError {
    /// The kind of problem.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The one-line message (without the file name).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The label shown under the offending text.
    pub fn label(&self) -> &str {
        &self.0.label
    }

    /// The help line, if any.
    pub fn help_text(&self) -> Option<&str> {
        self.0.help.as_deref()
    }

    /// The offending byte range in the source (none for I/O errors).
    pub fn span(&self) -> Option<Span> {
        self.0.span
    }

    /// The manifest file the error is about.
    pub fn path(&self) -> &std::path::Path {
        &self.0.path
    }

    pub(crate) fn io(path: PathBuf, error: std::io::Error) -> Self {
        ManifestError(Box::new(Inner {
            kind: ErrorKind::Io,
            message: format!("cannot read manifest {}: {error}", path.display()),
            label: String::new(),
            help: None,
            span: None,
            path,
            src: None,
            io: Some(error),
        }))
    }

    /// Attach the file; used when a [`Located`] problem is found in `source`.
    pub(crate) fn at(path: PathBuf, source: Arc<str>, located: Located) -> Self {
        let located = located.into_data();
        let name = path.display().to_string();
        let end = source.len();
        let mut span = located.span;
        span.offset = span.offset.min(end);
        span.len = span.len.min(end - span.offset);
        ManifestError(Box::new(Inner {
            kind: located.kind,
            message: located.message,
            label: located.label,
            help: located.help,
            span: Some(span),
            path,
            src: Some(NamedSource::new(name, source)),
            io: None,
        }))
    }
}

impl Diagnostic for ManifestError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.0.kind.code()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.0
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display + 'a>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.0.src.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.0.span?;
        self.0.src.as_ref()?;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(self.0.label.clone()),
            span,
        ))))
    }
}

/// A problem found in the text, before the file name is known. Boxed: parse results stay
/// small, which keeps the parser's stack frames small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located(Box<LocatedData>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocatedData {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
    pub(crate) label: String,
    pub(crate) help: Option<String>,
    pub(crate) span: Span,
}

impl std::ops::Deref for Located {
    type Target = LocatedData;
    fn deref(&self) -> &LocatedData {
        &self.0
    }
}

impl Located {
    pub(crate) fn new(
        kind: ErrorKind,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        Located(Box::new(LocatedData {
            kind,
            message: message.into(),
            label: label.into(),
            help: None,
            span,
        }))
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.0.help = Some(help.into());
        self
    }

    pub(crate) fn into_data(self) -> LocatedData {
        *self.0
    }
}
