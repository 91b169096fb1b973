//! What every fuzz target checks about a diagnostic: its labels point inside the text it
//! carries (on character boundaries), and it renders the way `odd` renders it.

use std::sync::OnceLock;

use miette::{Diagnostic, MietteHandler, MietteHandlerOpts, ReportHandler};

/// miette panics inside its graphical renderer on a label past column 65,535 of a line
/// (issue #14; `odd` guards against it in the CLI). Texts with such lines are checked
/// for their spans but not rendered; `scripts/fuzz` keeps `-max_len` below it anyway.
pub const RENDERABLE_LINE_BYTES: usize = 65_535;

/// The options of `odd`'s report handler (`odoo-deploy-cli/src/output.rs`), without
/// colour (as with `NO_COLOR`), at a fixed width.
fn handler(width: usize) -> MietteHandler {
    MietteHandlerOpts::new()
        .terminal_links(false)
        .break_words(false)
        .word_separator(textwrap::WordSeparator::AsciiSpace)
        .word_splitter(textwrap::WordSplitter::NoHyphenation)
        .color(false)
        .unicode(true)
        .force_graphical(true)
        .width(width)
        .build()
}

struct Rendered<'a>(&'a MietteHandler, &'a dyn Diagnostic);

impl std::fmt::Debug for Rendered<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.debug(self.1, f)
    }
}

/// Widths a terminal may have, from narrow to wide.
const WIDTHS: [usize; 4] = [24, 40, 80, 132];

/// Checks `diagnostic` (and its related ones) against `source`, the text it was read
/// from, then renders it at one of [`WIDTHS`] (chosen by the text's length, so that each
/// input always renders the same way).
pub fn check_diagnostic(diagnostic: &dyn Diagnostic, source: &str) {
    check_labels(diagnostic, source);
    if source.lines().any(|l| l.len() > RENDERABLE_LINE_BYTES) {
        return;
    }
    static HANDLERS: OnceLock<Vec<MietteHandler>> = OnceLock::new();
    let handlers = HANDLERS.get_or_init(|| WIDTHS.iter().map(|&w| handler(w)).collect());
    let handler = &handlers[source.len() % handlers.len()];
    let text = format!("{:?}", Rendered(handler, diagnostic));
    assert!(!text.is_empty(), "a diagnostic rendered as nothing");
}

fn check_labels(diagnostic: &dyn Diagnostic, source: &str) {
    for label in diagnostic.labels().into_iter().flatten() {
        let (start, len) = (label.offset(), label.len());
        let end = start.checked_add(len).expect("a label's end overflows");
        assert!(
            end <= source.len(),
            "label {start}..{end} ({:?}) is past the end of a {}-byte text",
            label.label(),
            source.len()
        );
        assert!(
            source.is_char_boundary(start) && source.is_char_boundary(end),
            "label {start}..{end} ({:?}) cuts a character",
            label.label()
        );
    }
    for related in diagnostic.related().into_iter().flatten() {
        check_labels(related, source);
    }
}

/// `clock::human` of any time read from the host's files is `YEAR-MM-DD HH:MM:SS UTC`
/// with a real month, day and time: operators read these to know what happened when.
pub fn check_human_time(unix_seconds: i64) {
    let text = odoo_deploy_core::clock::human(unix_seconds);
    let fields = |part: &str, sep: char| -> Vec<i64> {
        // A leading `-` is a year before 0.
        let (sign, part) = part.strip_prefix('-').map_or((1, part), |p| (-1, p));
        let mut numbers: Vec<i64> = part.split(sep).map(|n| n.parse().unwrap_or(-1)).collect();
        if let Some(first) = numbers.first_mut() {
            *first *= sign;
        }
        numbers
    };
    let parts: Vec<&str> = text.split(' ').collect();
    let ok = match parts.as_slice() {
        [date, time, "UTC"] => match (fields(date, '-').as_slice(), fields(time, ':').as_slice()) {
            ([_, month, day], [h, m, s]) => {
                (1..=12).contains(month)
                    && (1..=31).contains(day)
                    && (0..24).contains(h)
                    && (0..60).contains(m)
                    && (0..60).contains(s)
            }
            _ => false,
        },
        _ => false,
    };
    assert!(ok, "clock::human({unix_seconds}) = {text:?}");
}
