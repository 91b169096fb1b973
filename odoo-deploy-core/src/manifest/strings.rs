//! String and bytes literal bodies: escapes as Python 3.11 decodes them.

use super::Span;
use super::error::{ErrorKind, Located};
use super::names::NAMES;

/// A decoded string literal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Bytes(Vec<u8>),
}

fn span(from: usize, to: usize) -> Span {
    Span {
        offset: from,
        len: to.saturating_sub(from),
    }
}

/// Decode the text between the quotes. `offset` is where `body` starts in the source.
pub(crate) fn decode(body: &str, offset: usize, raw: bool, bytes: bool) -> Result<Lit, Located> {
    if bytes && let Some((i, c)) = body.char_indices().find(|(_, c)| !c.is_ascii()) {
        return Err(Located::new(
            ErrorKind::Syntax,
            span(offset + i, offset + i + c.len_utf8()),
            "bytes can only contain ASCII literal characters",
            "not ASCII",
        )
        .help("write it as an escape such as `\\xe9`, or use a str literal"));
    }
    let mut out = String::with_capacity(body.len());
    let mut raw_bytes: Vec<u8> = Vec::new();
    let push = |out: &mut String, raw_bytes: &mut Vec<u8>, v: u32| {
        if bytes {
            raw_bytes.push((v & 0xff) as u8);
        } else if let Some(c) = char::from_u32(v) {
            out.push(c);
        }
    };
    let b = body.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\r' {
            // Universal newlines: \r\n and \r read as \n.
            push(&mut out, &mut raw_bytes, u32::from(b'\n'));
            i += if b.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
            continue;
        }
        if c != b'\\' || raw {
            if raw && c == b'\\' {
                // A raw backslash still keeps the next character (maybe a newline) as is.
                push(&mut out, &mut raw_bytes, u32::from(c));
                i += 1;
                continue;
            }
            let ch = body[i..].chars().next().unwrap_or('\u{fffd}');
            push(&mut out, &mut raw_bytes, ch as u32);
            i += ch.len_utf8();
            continue;
        }
        let start = i;
        let Some(&e) = b.get(i + 1) else {
            push(&mut out, &mut raw_bytes, u32::from(b'\\'));
            i += 1;
            continue;
        };
        i += 2;
        let simple = match e {
            b'\n' => Some(None),
            b'\r' => {
                if b.get(i) == Some(&b'\n') {
                    i += 1;
                }
                Some(None)
            }
            b'\\' => Some(Some(0x5c)),
            b'\'' => Some(Some(0x27)),
            b'"' => Some(Some(0x22)),
            b'a' => Some(Some(0x07)),
            b'b' => Some(Some(0x08)),
            b'f' => Some(Some(0x0c)),
            b'n' => Some(Some(0x0a)),
            b'r' => Some(Some(0x0d)),
            b't' => Some(Some(0x09)),
            b'v' => Some(Some(0x0b)),
            _ => None,
        };
        if let Some(v) = simple {
            if let Some(v) = v {
                push(&mut out, &mut raw_bytes, v);
            }
            continue;
        }
        match e {
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match b.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                push(&mut out, &mut raw_bytes, v);
            }
            b'x' => {
                let v = hex_digits(b, i, 2)
                    .ok_or_else(|| truncated(offset, start, i, b, 2, "\\xXX"))?;
                i += 2;
                push(&mut out, &mut raw_bytes, v);
            }
            b'u' | b'U' if !bytes => {
                let n = if e == b'u' { 4 } else { 8 };
                let v = hex_digits(b, i, n).ok_or_else(|| {
                    truncated(
                        offset,
                        start,
                        i,
                        b,
                        n,
                        if n == 4 { "\\uXXXX" } else { "\\UXXXXXXXX" },
                    )
                })?;
                i += n;
                check_scalar(v, span(offset + start, offset + i))?;
                push(&mut out, &mut raw_bytes, v);
            }
            b'N' if !bytes => {
                let malformed = || {
                    Located::new(
                        ErrorKind::Syntax,
                        span(offset + start, offset + start + 2),
                        "malformed \\N character escape",
                        "expected `\\N{NAME}`",
                    )
                };
                if b.get(i) != Some(&b'{') {
                    return Err(malformed());
                }
                let name_start = i + 1;
                let Some(close) = b[name_start..].iter().position(|&c| c == b'}') else {
                    return Err(malformed());
                };
                if close == 0 {
                    return Err(malformed());
                }
                let name = &body[name_start..name_start + close];
                i = name_start + close + 1;
                let esc = span(offset + start, offset + i);
                let v = lookup_name(name).ok_or_else(|| {
                    Located::new(
                        ErrorKind::Unsupported,
                        esc,
                        format!("unknown or unsupported Unicode character name `{name}`"),
                        "this name",
                    )
                    .help(
                        "odd knows the names of ASCII, Latin-1, Latin Extended-A, common \
                         punctuation and symbols; write the character itself or a \\uXXXX escape",
                    )
                })?;
                push(&mut out, &mut raw_bytes, v);
            }
            _ => {
                // Unknown escape: Python keeps the backslash (and warns).
                push(&mut out, &mut raw_bytes, u32::from(b'\\'));
                i -= 1;
            }
        }
    }
    Ok(if bytes {
        Lit::Bytes(raw_bytes)
    } else {
        Lit::Str(out)
    })
}

fn hex_digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let digits = b.get(at..at + n)?;
    let mut v: u32 = 0;
    for &d in digits {
        v = v * 16 + (d as char).to_digit(16)?;
    }
    Some(v)
}

fn truncated(offset: usize, start: usize, at: usize, b: &[u8], n: usize, form: &str) -> Located {
    let got = b[at..]
        .iter()
        .take(n)
        .take_while(|d| d.is_ascii_hexdigit())
        .count();
    Located::new(
        ErrorKind::Syntax,
        span(offset + start, offset + at + got),
        format!("truncated {form} escape"),
        format!("needs {n} hex digits"),
    )
}

fn check_scalar(v: u32, at: Span) -> Result<(), Located> {
    if v > 0x10_FFFF {
        return Err(Located::new(
            ErrorKind::Syntax,
            at,
            "illegal Unicode character",
            "above U+10FFFF",
        ));
    }
    if (0xD800..=0xDFFF).contains(&v) {
        return Err(Located::new(
            ErrorKind::Unsupported,
            at,
            format!("lone surrogate U+{v:04X} in a string"),
            "a surrogate code point",
        )
        .help(
            "Python accepts it, but such a string cannot be written as UTF-8 (Odoo could not \
             store it); odd does not support it: use \\UXXXXXXXX for characters above U+FFFF",
        ));
    }
    Ok(())
}

fn lookup_name(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    NAMES
        .binary_search_by(|(n, _)| (*n).cmp(upper.as_str()))
        .ok()
        .map(|i| NAMES[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(body: &str) -> String {
        match decode(body, 0, false, false) {
            Ok(Lit::Str(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(s(r"a\nb\t\\\'\x41\101\u00e9\U0001F600"), "a\nb\t\\'AAé😀");
        assert_eq!(s(r"\d\8"), r"\d\8");
        assert_eq!(s("\\\nx"), "x");
        assert_eq!(s(r"\N{bullet}\N{LATIN SMALL LETTER E WITH ACUTE}"), "•é");
        assert_eq!(s(r"\1234"), "S4");
        assert!(decode(r"\x4", 0, false, false).is_err());
        assert!(decode(r"\N{NO SUCH NAME}", 0, false, false).is_err());
        assert!(decode(r"\ud800", 0, false, false).is_err());
        assert_eq!(
            decode(r"\400\u1234", 0, false, true),
            Ok(Lit::Bytes(b"\x00\\u1234".to_vec()))
        );
        assert!(NAMES.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
