//! Recursive descent over [`Lexer`] tokens, evaluating as `ast.literal_eval` does.

use super::Span;
use super::error::{ErrorKind, Located};
use super::lexer::{Lexer, Tok, Token};
use super::strings::Lit;
use super::value::{Value, ValueKind, build_dict, dedup_set};

/// How the expression looked, for `ast.literal_eval`'s rules on `+` and `-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// An int, float or complex literal (parentheses are invisible).
    Number,
    /// `+` or `-` applied to a [`Shape::Number`].
    Signed,
    /// The bare name `set`, inside parentheses: only `(set)()` can make it a literal.
    SetName,
    /// Anything else.
    Other,
}

#[derive(Debug)]
struct Parsed {
    value: Value,
    shape: Shape,
}

fn join(a: Span, b: Span) -> Span {
    let start = a.offset.min(b.offset);
    let end = (a.offset + a.len).max(b.offset + b.len);
    Span {
        offset: start,
        len: end - start,
    }
}

fn not_literal(at: Span, message: impl Into<String>, label: impl Into<String>) -> Located {
    Located::new(ErrorKind::NotLiteral, at, message, label).help(
        "a manifest is read with ast.literal_eval: only strings, bytes, numbers, True, False, \
         None, lists, tuples, dicts, sets and `set()` are allowed",
    )
}

/// Evaluate `src` as `ast.literal_eval` would.
pub(crate) fn literal_eval(src: &str) -> Result<Value, Located> {
    let mut p = Parser {
        lx: Lexer::new(src),
        peeked: None,
    };
    let first = p.peek()?.clone();
    if matches!(first.tok, Tok::Eof | Tok::Newline) {
        return Err(Located::new(
            ErrorKind::Syntax,
            first.span,
            "the manifest is empty",
            "expected a dict here",
        )
        .help("a manifest is one Python dict literal: `{'name': ..., 'depends': [...]}`"));
    }
    let (parsed, _) = p.expr_list()?;
    let end = p.bump()?;
    match end.tok {
        Tok::Eof => {}
        Tok::Newline => {
            let next = p.bump()?;
            if !matches!(next.tok, Tok::Eof) {
                return Err(p.second_statement(&parsed.value, &next));
            }
        }
        _ => return Err(p.unexpected(&end)),
    }
    Ok(parsed.value)
}

#[derive(Debug)]
struct Parser<'a> {
    lx: Lexer<'a>,
    peeked: Option<Token>,
}

impl Parser<'_> {
    fn peek(&mut self) -> Result<&Token, Located> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lx.next_token()?);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    fn bump(&mut self) -> Result<Token, Located> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lx.next_token(),
        }
    }

    fn text(&self, at: Span) -> &str {
        text_of(self.lx.src(), at)
    }

    fn second_statement(&self, first: &Value, next: &Token) -> Located {
        if matches!(first.kind, ValueKind::Str(_)) {
            return Located::new(
                ErrorKind::Syntax,
                first.span,
                "a string before the manifest dict makes a second statement",
                "this string is a statement of its own",
            )
            .help("ast.literal_eval accepts exactly one expression: turn the docstring into # comments");
        }
        Located::new(
            ErrorKind::Syntax,
            next.span,
            "a second statement after the manifest value",
            "unexpected here",
        )
        .help("ast.literal_eval accepts exactly one expression: remove what follows it or make it a # comment")
    }

    fn unexpected(&self, tok: &Token) -> Located {
        match &tok.tok {
            Tok::Eof => Located::new(
                ErrorKind::Syntax,
                tok.span,
                "unexpected end of file",
                "the manifest ends here",
            ),
            Tok::Newline => Located::new(
                ErrorKind::Syntax,
                tok.span,
                "unexpected end of line",
                "the expression is incomplete",
            ),
            Tok::Op if self.text(tok.span) == "=" => Located::new(
                ErrorKind::Syntax,
                tok.span,
                "an assignment is not a literal",
                "assignment",
            )
            .help("the manifest must be the dict alone, without `name =`"),
            Tok::Op | Tok::Ellipsis | Tok::Plus | Tok::Minus => not_literal(
                tok.span,
                format!(
                    "operator `{}` is not allowed in a literal",
                    self.text(tok.span)
                ),
                "not part of a literal",
            ),
            Tok::Open(b'(') => not_literal(tok.span, "a call is not a literal", "call"),
            Tok::Open(b'[') => not_literal(tok.span, "a subscript is not a literal", "subscript"),
            _ => Located::new(
                ErrorKind::Syntax,
                tok.span,
                format!("invalid syntax: unexpected `{}`", self.text(tok.span)),
                "unexpected here",
            )
            .help("perhaps a comma is missing"),
        }
    }

    fn starts_expr(tok: &Tok) -> bool {
        matches!(
            tok,
            Tok::Open(_)
                | Tok::Plus
                | Tok::Minus
                | Tok::Ellipsis
                | Tok::Name
                | Tok::Int(_)
                | Tok::Float(_)
                | Tok::Imag(_)
                | Tok::Str { .. }
        )
    }

    /// `expr (',' expr)* [',']`: a tuple when there is a comma. Returns whether it was one.
    fn expr_list(&mut self) -> Result<(Parsed, bool), Located> {
        let first = self.expr()?;
        if !matches!(self.peek()?.tok, Tok::Comma) {
            return Ok((first, false));
        }
        no_set_name(&first)?;
        let mut span = first.value.span;
        let mut items = vec![first.value];
        while matches!(self.peek()?.tok, Tok::Comma) {
            span = join(span, self.bump()?.span);
            if !Self::starts_expr(&self.peek()?.tok) {
                break;
            }
            let item = self.expr()?;
            no_set_name(&item)?;
            span = join(span, item.value.span);
            items.push(item.value);
        }
        Ok((
            Parsed {
                value: Value::new(ValueKind::Tuple(items), span),
                shape: Shape::Other,
            },
            true,
        ))
    }

    /// `unary (('+' | '-') unary)*`, where only `real ± imaginary` is a literal.
    fn expr(&mut self) -> Result<Parsed, Located> {
        let mut left = self.unary()?;
        while matches!(self.peek()?.tok, Tok::Plus | Tok::Minus) {
            let op = self.bump()?;
            let right = self.unary()?;
            left = self.complex(&left, &op, &right)?;
        }
        Ok(left)
    }

    #[inline(never)]
    fn complex(&self, left: &Parsed, op: &Token, right: &Parsed) -> Result<Parsed, Located> {
        let span = join(left.value.span, right.value.span);
        let real = match (&left.value.kind, left.shape) {
            (ValueKind::Int(i), Shape::Number | Shape::Signed) => {
                Some(i.to_f64().ok_or_else(|| {
                    Located::new(
                        ErrorKind::Value,
                        left.value.span,
                        "int too large to convert to float",
                        "too large",
                    )
                })?)
            }
            (ValueKind::Float(f), Shape::Number | Shape::Signed) => Some(*f),
            _ => None,
        };
        let imag = match (&right.value.kind, right.shape) {
            (ValueKind::Complex { re, im }, Shape::Number) => Some((*re, *im)),
            _ => None,
        };
        let (Some(real), Some((ire, iim))) = (real, imag) else {
            return Err(not_literal(
                span,
                format!("`{}` is an operation, not a literal", self.text(op.span)),
                "only a real number plus or minus an imaginary one (like `1+2j`) is allowed",
            ));
        };
        let (re, im) = if matches!(op.tok, Tok::Plus) {
            (real + ire, iim)
        } else {
            (real - ire, -iim)
        };
        Ok(Parsed {
            value: Value::new(ValueKind::Complex { re, im }, span),
            shape: Shape::Other,
        })
    }

    /// `('+' | '-')* primary`, read without recursion so `- - - … 1` cannot overflow.
    fn unary(&mut self) -> Result<Parsed, Located> {
        let mut signs = Vec::new();
        while matches!(self.peek()?.tok, Tok::Plus | Tok::Minus) {
            signs.push(self.bump()?);
        }
        let mut operand = self.atom()?;
        self.no_trailer(&mut operand)?;
        let Some(sign) = signs.last() else {
            return Ok(operand);
        };
        if signs.len() >= 2 {
            let outer = &signs[signs.len() - 2];
            return Err(not_literal(
                join(outer.span, operand.value.span),
                "a sign applied to a signed number is not a literal",
                "more than one sign",
            ));
        }
        let span = join(sign.span, operand.value.span);
        no_set_name(&operand)?;
        if operand.shape != Shape::Number {
            return Err(not_literal(
                span,
                format!(
                    "unary `{}` applies only to a number literal, not to a {}",
                    self.text(sign.span),
                    operand.value.kind.type_name()
                ),
                "not a literal",
            ));
        }
        let minus = matches!(sign.tok, Tok::Minus);
        let kind = match operand.value.kind {
            ValueKind::Int(i) if minus => ValueKind::Int(i.neg()),
            ValueKind::Float(f) if minus => ValueKind::Float(-f),
            ValueKind::Complex { re, im } if minus => ValueKind::Complex { re: -re, im: -im },
            other => other,
        };
        Ok(Parsed {
            value: Value::new(kind, span),
            shape: Shape::Signed,
        })
    }

    /// An atom must not be followed by a call, subscript or attribute.
    #[inline(never)]
    fn no_trailer(&mut self, atom: &mut Parsed) -> Result<(), Located> {
        if atom.shape == Shape::SetName {
            return self.set_call(atom);
        }
        let src = self.lx.src();
        let next = self.peek()?;
        let what = match &next.tok {
            Tok::Open(b'(') => Some("a call"),
            Tok::Open(b'[') => Some("a subscript"),
            Tok::Op if text_of(src, next.span) == "." => Some("an attribute access"),
            _ => None,
        };
        if let Some(what) = what {
            let at = join(atom.value.span, next.span);
            return Err(not_literal(
                at,
                format!("{what} is not a literal"),
                what.trim_start_matches("a ").trim_start_matches("an "),
            ));
        }
        Ok(())
    }

    /// `set` followed by `(` `)` is `set()`; followed by `)` it may still become one, as
    /// in `(set)()`; anything else is a name, which is not a literal.
    #[inline(never)]
    fn set_call(&mut self, atom: &mut Parsed) -> Result<(), Located> {
        let at = atom.value.span;
        match self.peek()?.tok {
            Tok::Close(b')') => Ok(()),
            Tok::Open(b'(') => {
                self.bump()?;
                let close = self.bump()?;
                if !matches!(close.tok, Tok::Close(b')')) {
                    return Err(not_literal(
                        join(at, close.span),
                        "`set(...)` with arguments is a call, not a literal",
                        "only `set()` (empty) is allowed",
                    ));
                }
                atom.value = Value::new(ValueKind::Set(Vec::new()), join(at, close.span));
                atom.shape = Shape::Other;
                Ok(())
            }
            _ => Err(not_literal(at, "the name `set` is not a literal", "a name")),
        }
    }

    fn expect_close(&mut self, close: u8) -> Result<Token, Located> {
        let tok = self.bump()?;
        if tok.tok == Tok::Close(close) {
            Ok(tok)
        } else {
            Err(self.unexpected(&tok))
        }
    }

    /// Atoms; containers go through their own functions so that only the frame of the
    /// one being read is on the stack while it nests.
    fn atom(&mut self) -> Result<Parsed, Located> {
        let tok = self.bump()?;
        let other = |value: Value| Parsed {
            value,
            shape: Shape::Other,
        };
        let number = |kind: ValueKind, span: Span| Parsed {
            value: Value::new(kind, span),
            shape: Shape::Number,
        };
        match tok.tok {
            Tok::Int(i) => Ok(number(ValueKind::Int(i), tok.span)),
            Tok::Float(f) => Ok(number(ValueKind::Float(f), tok.span)),
            Tok::Imag(f) => Ok(number(ValueKind::Complex { re: 0.0, im: f }, tok.span)),
            Tok::Ellipsis => Ok(other(Value::new(ValueKind::Ellipsis, tok.span))),
            Tok::Str { lit, fstring } => self.strings(tok.span, lit, fstring).map(other),
            Tok::Name => self.name(tok.span),
            Tok::Open(b'(') => self.paren(tok.span),
            Tok::Open(b'[') => self.list(tok.span).map(other),
            Tok::Open(_) => self.braces(tok.span).map(other),
            _ => Err(self.unexpected(&tok)),
        }
    }

    #[inline(never)]
    fn paren(&mut self, open: Span) -> Result<Parsed, Located> {
        if matches!(self.peek()?.tok, Tok::Close(b')')) {
            let close = self.bump()?;
            return Ok(Parsed {
                value: Value::new(ValueKind::Tuple(Vec::new()), join(open, close.span)),
                shape: Shape::Other,
            });
        }
        let (mut inner, tuple) = self.expr_list()?;
        let close = self.expect_close(b')')?;
        if tuple {
            inner.value.span = join(open, close.span);
        }
        Ok(inner)
    }

    #[inline(never)]
    fn list(&mut self, open: Span) -> Result<Value, Located> {
        let mut items = Vec::new();
        while !matches!(self.peek()?.tok, Tok::Close(b']')) {
            items.push(self.expr()?.value);
            if !matches!(self.peek()?.tok, Tok::Comma) {
                break;
            }
            self.bump()?;
        }
        let close = self.expect_close(b']')?;
        Ok(Value::new(ValueKind::List(items), join(open, close.span)))
    }

    #[inline(never)]
    fn strings(&mut self, first: Span, lit: Lit, fstring: bool) -> Result<Value, Located> {
        if fstring {
            return Err(not_literal(
                first,
                "an f-string is not a literal",
                "f-string",
            ));
        }
        let mut span = first;
        let mut acc = lit;
        while let Tok::Str { .. } = self.peek()?.tok {
            let next = self.bump()?;
            let Tok::Str { lit, fstring } = next.tok else {
                break;
            };
            if fstring {
                return Err(not_literal(
                    next.span,
                    "an f-string is not a literal",
                    "f-string",
                ));
            }
            acc = match (acc, lit) {
                (Lit::Str(mut a), Lit::Str(b)) => {
                    a.push_str(&b);
                    Lit::Str(a)
                }
                (Lit::Bytes(mut a), Lit::Bytes(b)) => {
                    a.extend_from_slice(&b);
                    Lit::Bytes(a)
                }
                _ => {
                    return Err(Located::new(
                        ErrorKind::Syntax,
                        join(span, next.span),
                        "cannot mix bytes and nonbytes literals",
                        "str and bytes side by side",
                    ));
                }
            };
            span = join(span, next.span);
        }
        let kind = match acc {
            Lit::Str(s) => ValueKind::Str(s),
            Lit::Bytes(b) => ValueKind::Bytes(b),
        };
        Ok(Value::new(kind, span))
    }

    #[inline(never)]
    fn name(&mut self, at: Span) -> Result<Parsed, Located> {
        let word = self.text(at).to_owned();
        let kind = match word.as_str() {
            "True" => ValueKind::Bool(true),
            "False" => ValueKind::Bool(false),
            "None" => ValueKind::None,
            "set" if matches!(self.peek()?.tok, Tok::Open(b'(') | Tok::Close(b')')) => {
                return Ok(Parsed {
                    value: Value::new(ValueKind::None, at),
                    shape: Shape::SetName,
                });
            }
            _ => {
                let src = self.lx.src();
                let next = self.peek()?;
                let (next_tok, next_span) = (next.tok.clone(), next.span);
                let what = match next_tok {
                    Tok::Open(b'(') => Some(("a call", "call")),
                    Tok::Open(b'[') => Some(("a subscript", "subscript")),
                    Tok::Op if text_of(src, next_span) == "." => {
                        Some(("an attribute access", "attribute"))
                    }
                    Tok::Op if text_of(src, next_span) == "=" => {
                        return Err(Located::new(
                            ErrorKind::Syntax,
                            at,
                            format!("an assignment to `{word}` is not a literal"),
                            "assignment",
                        )
                        .help("the manifest must be the dict alone, without `name =`"));
                    }
                    _ => None,
                };
                if let Some((what, label)) = what {
                    return Err(not_literal(
                        join(at, next_span),
                        format!(
                            "{what} (`{word}{}`) is not a literal",
                            text_of(src, next_span)
                        ),
                        label,
                    ));
                }
                return Err(not_literal(
                    at,
                    format!("the name `{word}` is not a literal"),
                    "a name",
                ));
            }
        };
        Ok(Parsed {
            value: Value::new(kind, at),
            shape: Shape::Other,
        })
    }

    /// `{}` dict, `{k: v, …}` dict or `{a, …}` set.
    #[inline(never)]
    fn braces(&mut self, open: Span) -> Result<Value, Located> {
        if matches!(self.peek()?.tok, Tok::Close(b'}')) {
            let close = self.bump()?;
            return Ok(Value::new(
                ValueKind::Dict(Vec::new()),
                join(open, close.span),
            ));
        }
        let first = self.expr()?.value;
        if matches!(self.peek()?.tok, Tok::Colon) {
            let mut entries = Vec::new();
            let mut key = first;
            loop {
                let colon = self.bump()?;
                if !matches!(colon.tok, Tok::Colon) {
                    return Err(self.unexpected(&colon));
                }
                let value = self.expr()?.value;
                entries.push((key, value));
                if !matches!(self.peek()?.tok, Tok::Comma) {
                    break;
                }
                self.bump()?;
                if matches!(self.peek()?.tok, Tok::Close(b'}')) {
                    break;
                }
                key = self.expr()?.value;
            }
            let close = self.expect_close(b'}')?;
            let entries = build_dict(entries).map_err(|(ty, at)| unhashable(ty, at))?;
            return Ok(Value::new(ValueKind::Dict(entries), join(open, close.span)));
        }
        let mut items = vec![first];
        while matches!(self.peek()?.tok, Tok::Comma) {
            self.bump()?;
            if matches!(self.peek()?.tok, Tok::Close(b'}')) {
                break;
            }
            items.push(self.expr()?.value);
        }
        let close = self.expect_close(b'}')?;
        let items = dedup_set(items).map_err(|(ty, at)| unhashable(ty, at))?;
        Ok(Value::new(ValueKind::Set(items), join(open, close.span)))
    }
}

fn no_set_name(item: &Parsed) -> Result<(), Located> {
    if item.shape == Shape::SetName {
        return Err(not_literal(
            item.value.span,
            "the name `set` is not a literal",
            "a name",
        ));
    }
    Ok(())
}

fn unhashable(ty: &str, at: Span) -> Located {
    Located::new(
        ErrorKind::Value,
        at,
        format!("unhashable type: '{ty}'"),
        "cannot be a dict key or set element",
    )
    .help("use a tuple instead of a list")
}

fn text_of(src: &str, at: Span) -> &str {
    src.get(at.offset..at.offset + at.len).unwrap_or("")
}
