//! Tokens of the part of Python that `ast.literal_eval` can accept, with Python 3.11's
//! tokenizer rules for whitespace, comments, continuations, indentation and nesting.

use super::Span;
use super::error::{ErrorKind, Located};
use super::int::{Int, MAX_STR_DIGITS};
use super::strings::{self, Lit};

/// Python's limit on nested brackets (`MAXLEVEL` in the tokenizer).
pub(crate) const MAX_NESTING: usize = 200;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Open(u8),
    Close(u8),
    Comma,
    Colon,
    Plus,
    Minus,
    Ellipsis,
    Newline,
    Eof,
    Name,
    Int(Int),
    Float(f64),
    Imag(f64),
    Str {
        lit: Lit,
        fstring: bool,
    },
    /// Any other operator or delimiter (never part of a literal).
    Op,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) span: Span,
}

#[derive(Debug)]
pub(crate) struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    /// Open brackets (the byte and where), innermost last.
    open: Vec<(u8, usize)>,
    at_line_start: bool,
    first_line: bool,
    /// Where the number being read starts.
    num_start: usize,
}

fn span(from: usize, to: usize) -> Span {
    Span {
        offset: from,
        len: to.saturating_sub(from),
    }
}

fn syntax(at: Span, message: impl Into<String>, label: impl Into<String>) -> Located {
    Located::new(ErrorKind::Syntax, at, message, label)
}

/// Python refuses NUL anywhere in the source, even in strings and comments.
fn nul(at: usize) -> Located {
    Located::new(
        ErrorKind::Syntax,
        span(at, at + 1),
        "source code string cannot contain null bytes",
        "a NUL byte",
    )
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic() || (!c.is_ascii() && c.is_alphabetic())
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric() || (!c.is_ascii() && c.is_alphanumeric())
}

fn closer(open: u8) -> u8 {
    match open {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    }
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer {
            src,
            b: src.as_bytes(),
            pos: 0,
            open: Vec::new(),
            at_line_start: true,
            first_line: true,
            num_start: 0,
        }
    }

    pub(crate) fn src(&self) -> &'a str {
        self.src
    }

    fn peek_byte(&self, ahead: usize) -> Option<u8> {
        self.b.get(self.pos + ahead).copied()
    }

    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    /// Consume a newline (`\n`, `\r\n` or `\r`) if there is one.
    fn eat_newline(&mut self) -> bool {
        match self.peek_byte(0) {
            Some(b'\n') => {
                self.pos += 1;
                true
            }
            Some(b'\r') => {
                self.pos += if self.peek_byte(1) == Some(b'\n') {
                    2
                } else {
                    1
                };
                true
            }
            _ => false,
        }
    }

    fn skip_comment(&mut self) -> Result<(), Located> {
        let (b, mut i) = (self.b, self.pos);
        while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
            if b[i] == 0 {
                return Err(nul(i));
            }
            i += 1;
        }
        self.pos = i;
        // A comment may hold any UTF-8; stay on a char boundary.
        while !self.src.is_char_boundary(self.pos) {
            self.pos += 1;
        }
        Ok(())
    }

    /// Indentation at the start of a logical line outside brackets. Returns `Some(Eof)`
    /// at the end of the text.
    fn line_start(&mut self) -> Result<Option<Token>, Located> {
        loop {
            let line = self.pos;
            if self.first_line {
                // `ast.literal_eval` strips leading spaces and tabs from the text.
                while matches!(self.peek_byte(0), Some(b' ' | b'\t')) {
                    self.pos += 1;
                }
            }
            let mut col = 0usize;
            // As in CPython: indentation may run over backslash continuations, and the
            // column at the first backslash, if not zero, is the line's indentation.
            let mut cont_col = 0usize;
            let indent_from = self.pos;
            loop {
                match self.peek_byte(0) {
                    Some(b' ') => col += 1,
                    Some(b'\t') => col = (col / 8 + 1) * 8,
                    Some(b'\x0c') => col = 0,
                    Some(b'\\') => {
                        if cont_col == 0 {
                            cont_col = col;
                        }
                        self.continuation()?;
                        continue;
                    }
                    _ => break,
                }
                self.pos += 1;
            }
            if cont_col != 0 {
                col = cont_col;
            }
            match self.peek_byte(0) {
                Some(b'#') => {
                    self.skip_comment()?;
                    if !self.eat_newline() {
                        return Ok(Some(self.eof_token()?));
                    }
                    self.first_line = false;
                }
                Some(b'\n' | b'\r') => {
                    self.eat_newline();
                    self.first_line = false;
                }
                next => {
                    if col > 0 {
                        return Err(Located::new(
                            ErrorKind::Syntax,
                            span(indent_from.max(line), self.pos),
                            "unexpected indent",
                            "indented",
                        )
                        .help("Python compiles the manifest as one expression: remove the indentation"));
                    }
                    self.at_line_start = false;
                    self.first_line = false;
                    if next.is_none() {
                        return Ok(Some(self.eof_token()?));
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// A backslash that must end the line, and the text must go on after it.
    fn continuation(&mut self) -> Result<(), Located> {
        let at = self.pos;
        self.pos += 1;
        if !self.eat_newline() {
            return Err(syntax(
                span(at, at + 1),
                "unexpected character after line continuation character",
                "a backslash outside a string must end the line",
            ));
        }
        if self.pos >= self.b.len() {
            return Err(syntax(
                span(at, self.pos),
                "unexpected EOF while parsing",
                "the line continues past the end of the file",
            ));
        }
        Ok(())
    }

    fn eof_token(&self) -> Result<Token, Located> {
        if let Some(&(open, at)) = self.open.last() {
            return Err(syntax(
                span(at, at + 1),
                format!("`{}` was never closed", open as char),
                "opened here",
            )
            .help(format!(
                "add the missing `{}` at the right place",
                closer(open) as char
            )));
        }
        Ok(Token {
            tok: Tok::Eof,
            span: span(self.src.len(), self.src.len()),
        })
    }

    pub(crate) fn next_token(&mut self) -> Result<Token, Located> {
        if self.at_line_start
            && self.open.is_empty()
            && let Some(eof) = self.line_start()?
        {
            return Ok(eof);
        }
        loop {
            let Some(c) = self.peek_byte(0) else {
                return self.eof_token();
            };
            match c {
                b' ' | b'\t' | b'\x0c' => self.pos += 1,
                b'#' => self.skip_comment()?,
                b'\\' => self.continuation()?,
                b'\n' | b'\r' => {
                    let at = self.pos;
                    self.eat_newline();
                    if self.open.is_empty() {
                        self.at_line_start = true;
                        return Ok(Token {
                            tok: Tok::Newline,
                            span: span(at, self.pos),
                        });
                    }
                }
                _ => return self.token(),
            }
        }
    }

    fn simple(&mut self, tok: Tok, len: usize) -> Token {
        let start = self.pos;
        self.pos += len;
        Token {
            tok,
            span: span(start, self.pos),
        }
    }

    fn token(&mut self) -> Result<Token, Located> {
        let start = self.pos;
        let first = self.b[start];
        let c = if first.is_ascii() {
            char::from(first)
        } else {
            self.peek_char().unwrap_or('\0')
        };
        match c {
            '\0' => Err(nul(start)),
            '(' | '[' | '{' => {
                if self.open.len() >= MAX_NESTING {
                    return Err(Located::new(
                        ErrorKind::TooDeep,
                        span(start, start + 1),
                        "too many nested parentheses",
                        format!("more than {MAX_NESTING} brackets are open here"),
                    )
                    .help("Python refuses more than 200 nested brackets"));
                }
                self.open.push((c as u8, start));
                Ok(self.simple(Tok::Open(c as u8), 1))
            }
            ')' | ']' | '}' => {
                match self.open.pop() {
                    None => {
                        return Err(syntax(
                            span(start, start + 1),
                            format!("unmatched `{c}`"),
                            "nothing to close",
                        ));
                    }
                    Some((open, at)) if closer(open) != c as u8 => {
                        return Err(syntax(
                            span(start, start + 1),
                            format!(
                                "closing `{c}` does not match opening `{}` at byte {at}",
                                open as char
                            ),
                            format!("expected `{}`", closer(open) as char),
                        ));
                    }
                    Some(_) => {}
                }
                Ok(self.simple(Tok::Close(c as u8), 1))
            }
            ',' => Ok(self.simple(Tok::Comma, 1)),
            ':' => {
                if self.peek_byte(1) == Some(b'=') {
                    Ok(self.simple(Tok::Op, 2))
                } else {
                    Ok(self.simple(Tok::Colon, 1))
                }
            }
            '+' | '-' => {
                if self.peek_byte(1) == Some(b'=') || (c == '-' && self.peek_byte(1) == Some(b'>'))
                {
                    Ok(self.simple(Tok::Op, 2))
                } else {
                    Ok(self.simple(if c == '+' { Tok::Plus } else { Tok::Minus }, 1))
                }
            }
            '.' => {
                if self.peek_byte(1).is_some_and(|d| d.is_ascii_digit()) {
                    self.number()
                } else if self.peek_byte(1) == Some(b'.') && self.peek_byte(2) == Some(b'.') {
                    Ok(self.simple(Tok::Ellipsis, 3))
                } else {
                    Ok(self.simple(Tok::Op, 1))
                }
            }
            '0'..='9' => self.number(),
            '\'' | '"' => self.string(start, self.pos, false, false, false),
            c if is_ident_start(c) => self.name_or_string(),
            c if c.is_ascii_punctuation() => {
                let len = self.src[start..]
                    .bytes()
                    .take_while(|b| b"*/%@&|^<>=!~".contains(b))
                    .count()
                    .max(1);
                Ok(self.simple(Tok::Op, len))
            }
            c => {
                let at = span(start, start + c.len_utf8());
                if c == '\u{feff}' {
                    return Err(syntax(
                        at,
                        "invalid non-printable character U+FEFF",
                        "a byte order mark",
                    )
                    .help(
                        "Odoo reads the file as plain UTF-8, so Python sees the BOM and \
                         refuses it: save the file without a BOM",
                    ));
                }
                if c.is_control() || c.is_whitespace() || !c.is_ascii() && is_format(c) {
                    return Err(syntax(
                        at,
                        format!("invalid non-printable character U+{:04X}", c as u32),
                        "not allowed outside strings and comments",
                    ));
                }
                Err(syntax(
                    at,
                    format!("invalid character `{c}` (U+{:04X})", c as u32),
                    "not allowed outside strings and comments",
                ))
            }
        }
    }

    fn name_or_string(&mut self) -> Result<Token, Located> {
        let start = self.pos;
        let len: usize = self.src[start..]
            .chars()
            .take_while(|&c| is_ident_char(c))
            .map(char::len_utf8)
            .sum();
        let word = &self.src[start..start + len];
        let quote = self.b.get(start + len).copied();
        if matches!(quote, Some(b'\'' | b'"')) && word.len() <= 2 {
            let lower = word.to_ascii_lowercase();
            let (raw, bytes, fstring) = match lower.as_str() {
                "r" => (true, false, false),
                "u" => (false, false, false),
                "b" => (false, true, false),
                "br" | "rb" => (true, true, false),
                "f" => (false, false, true),
                "fr" | "rf" => (true, false, true),
                _ => {
                    self.pos += len;
                    return Ok(Token {
                        tok: Tok::Name,
                        span: span(start, start + len),
                    });
                }
            };
            return self.string(start, start + len, raw, bytes, fstring);
        }
        self.pos += len;
        Ok(Token {
            tok: Tok::Name,
            span: span(start, start + len),
        })
    }

    fn string(
        &mut self,
        start: usize,
        quote_at: usize,
        raw: bool,
        bytes: bool,
        fstring: bool,
    ) -> Result<Token, Located> {
        let q = self.b[quote_at];
        let triple = self.b.get(quote_at + 1) == Some(&q) && self.b.get(quote_at + 2) == Some(&q);
        let body_start = quote_at + if triple { 3 } else { 1 };
        let mut i = body_start;
        let body_end;
        let b = self.b;
        // No escape and no \r: the body is the value as written.
        let mut plain = true;
        loop {
            // Tight loop over ordinary bytes (this is most of a big manifest).
            while i < b.len() {
                let c = b[i];
                if c == q || c == b'\\' || c == b'\n' || c == b'\r' || c == 0 {
                    break;
                }
                i += 1;
            }
            let Some(&c) = self.b.get(i) else {
                let (message, end) = if triple {
                    ("unterminated triple-quoted string literal", self.b.len())
                } else {
                    ("unterminated string literal", self.b.len())
                };
                return Err(
                    syntax(span(start, end), message, "this string is not closed").help(format!(
                        "add the closing {}",
                        if triple { "triple quote" } else { "quote" }
                    )),
                );
            };
            if c == b'\\' || c == b'\r' {
                plain = false;
            }
            match c {
                0 => return Err(nul(i)),
                b'\\' => {
                    i += 1;
                    if self.b.get(i) == Some(&0) {
                        return Err(nul(i));
                    }
                    if self.b.get(i) == Some(&b'\r') && self.b.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                    if i < self.b.len() {
                        i += 1;
                    }
                }
                b'\n' | b'\r' if !triple => {
                    return Err(syntax(
                        span(start, i),
                        "unterminated string literal",
                        "this string ends at the end of the line",
                    )
                    .help("close the quote on the same line, or use a triple-quoted string"));
                }
                _ if c == q => {
                    if !triple {
                        body_end = i;
                        i += 1;
                        break;
                    }
                    if self.b.get(i + 1) == Some(&q) && self.b.get(i + 2) == Some(&q) {
                        body_end = i;
                        i += 3;
                        break;
                    }
                    i += 1;
                }
                _ => i += 1,
            }
        }
        // The body may end inside a multi-byte char only if the text is cut; it cannot
        // here, since quotes are ASCII.
        let body = &self.src[body_start..body_end];
        self.pos = i;
        let lit = if fstring {
            Lit::Str(String::new())
        } else if plain && !bytes {
            Lit::Str(body.to_owned())
        } else if plain && body.is_ascii() {
            Lit::Bytes(body.as_bytes().to_vec())
        } else {
            strings::decode(body, body_start, raw, bytes)?
        };
        Ok(Token {
            tok: Tok::Str { lit, fstring },
            span: span(start, i),
        })
    }

    /// Digits of `radix` with single `_` between them; returns the digit values.
    fn digit_part(&mut self, radix: u32, out: &mut Vec<u8>, what: &str) -> Result<(), Located> {
        let start = self.pos;
        loop {
            match self.peek_byte(0) {
                Some(b'_') => {
                    let ok = self
                        .peek_byte(1)
                        .is_some_and(|d| (d as char).is_digit(radix));
                    if !ok || out.is_empty() && self.pos == start {
                        return Err(self.bad_number(what));
                    }
                    self.pos += 1;
                }
                Some(d) if (d as char).is_digit(radix) => {
                    out.push((d as char).to_digit(radix).unwrap_or(0) as u8);
                    self.pos += 1;
                }
                _ => return Ok(()),
            }
        }
    }

    fn bad_number(&self, what: &str) -> Located {
        let start = self.num_start;
        let end = self.src[self.pos..]
            .chars()
            .take_while(|&c| is_ident_char(c) || c == '.')
            .map(char::len_utf8)
            .sum::<usize>()
            + self.pos;
        syntax(
            span(start, end.max(self.pos + 1).min(self.b.len())),
            format!("invalid {what} literal"),
            "not a valid number",
        )
    }
}

impl Lexer<'_> {
    fn number(&mut self) -> Result<Token, Located> {
        let start = self.pos;
        self.num_start = start;
        let prefix = (
            self.peek_byte(0),
            self.peek_byte(1).map(|c| c.to_ascii_lowercase()),
        );
        if let (Some(b'0'), Some(p @ (b'x' | b'o' | b'b'))) = prefix {
            let (radix, what) = match p {
                b'x' => (16, "hexadecimal"),
                b'o' => (8, "octal"),
                _ => (2, "binary"),
            };
            self.pos += 2;
            let mut digits = Vec::new();
            // `0x_1` is allowed: one underscore may follow the prefix.
            if self.peek_byte(0) == Some(b'_') {
                self.pos += 1;
                if !self
                    .peek_byte(0)
                    .is_some_and(|d| (d as char).is_digit(radix))
                {
                    return Err(self.bad_number(what));
                }
            }
            self.digit_part(radix, &mut digits, what)?;
            if digits.is_empty() || self.peek_char().is_some_and(is_ident_char) {
                if let Some(d) = self.peek_char().filter(char::is_ascii_digit) {
                    let end = self.pos + 1;
                    return Err(syntax(
                        span(start, end),
                        format!("invalid digit '{d}' in {what} literal"),
                        "not a valid number",
                    ));
                }
                return Err(self.bad_number(what));
            }
            return Ok(Token {
                tok: Tok::Int(Int::from_digits(&digits, radix)),
                span: span(start, self.pos),
            });
        }
        let mut int_digits = Vec::new();
        self.digit_part(10, &mut int_digits, "decimal")?;
        let mut is_float = false;
        if self.peek_byte(0) == Some(b'.') {
            is_float = true;
            self.pos += 1;
            let mut frac = Vec::new();
            if self.peek_byte(0).is_some_and(|d| d.is_ascii_digit()) {
                self.digit_part(10, &mut frac, "decimal")?;
            }
        }
        if matches!(self.peek_byte(0), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(self.peek_byte(1), Some(b'+' | b'-')));
            if self.peek_byte(1 + sign).is_some_and(|d| d.is_ascii_digit()) {
                is_float = true;
                self.pos += 1 + sign;
                let mut exp = Vec::new();
                self.digit_part(10, &mut exp, "decimal")?;
            } else {
                return Err(self.bad_number("decimal"));
            }
        }
        let imag = matches!(self.peek_byte(0), Some(b'j' | b'J'));
        let text_end = self.pos;
        if imag {
            self.pos += 1;
        }
        if self.peek_char().is_some_and(is_ident_char) {
            return Err(self.bad_number(if imag { "imaginary" } else { "decimal" }));
        }
        let at = span(start, self.pos);
        let text: String = self.src[start..text_end]
            .chars()
            .filter(|&c| c != '_')
            .collect();
        if imag || is_float {
            let f: f64 = text.parse().map_err(|_| self.bad_number("decimal"))?;
            let tok = if imag { Tok::Imag(f) } else { Tok::Float(f) };
            return Ok(Token { tok, span: at });
        }
        if int_digits.first() == Some(&0) && int_digits.iter().any(|&d| d != 0) {
            return Err(syntax(
                at,
                "leading zeros in decimal integer literals are not permitted",
                "leading zero",
            )
            .help("use an 0o prefix for octal integers, or remove the leading zeros"));
        }
        if int_digits.len() > MAX_STR_DIGITS {
            return Err(Located::new(
                ErrorKind::Syntax,
                at,
                format!(
                    "Exceeds the limit ({MAX_STR_DIGITS} digits) for integer string conversion: \
                     value has {} digits",
                    int_digits.len()
                ),
                "too many digits",
            ));
        }
        Ok(Token {
            tok: Tok::Int(Int::from_digits(&int_digits, 10)),
            span: at,
        })
    }
}

fn is_format(c: char) -> bool {
    matches!(c as u32, 0x00A0 | 0x00AD | 0x200B..=0x200F | 0x2028..=0x202F | 0x2060..=0x206F | 0x3000)
}
