//! [`Value`]: a Python literal as `ast.literal_eval` builds it, each node with its [`Span`],
//! and its JSON text exactly as `json.dumps(value, default=list)` writes it.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::Span;
use super::int::Int;

/// One literal value with the span of the source text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// What the value is.
    pub kind: ValueKind,
    /// Where it was written.
    pub span: Span,
}

/// The Python types `ast.literal_eval` can produce.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// `None`
    None,
    /// `True` / `False`
    Bool(bool),
    /// `int`, exact and unbounded.
    Int(Int),
    /// `float`
    Float(f64),
    /// `complex` (`1j`, `1+2j`)
    Complex {
        /// Real part.
        re: f64,
        /// Imaginary part.
        im: f64,
    },
    /// `str`
    Str(String),
    /// `bytes`
    Bytes(Vec<u8>),
    /// `...`
    Ellipsis,
    /// `tuple`
    Tuple(Vec<Value>),
    /// `list`
    List(Vec<Value>),
    /// `set`, duplicates removed keeping the first, in source order (Python iterates a set
    /// in hash order, which for `str` changes on every run: source order is odd's choice).
    Set(Vec<Value>),
    /// `dict`: duplicate keys keep the first key and its position with the last value,
    /// as Python's `dict` does.
    Dict(Vec<(Value, Value)>),
}

impl ValueKind {
    /// Python's type name (`'str'`, `'list'`…), as error messages show it.
    pub fn type_name(&self) -> &'static str {
        match self {
            ValueKind::None => "NoneType",
            ValueKind::Bool(_) => "bool",
            ValueKind::Int(_) => "int",
            ValueKind::Float(_) => "float",
            ValueKind::Complex { .. } => "complex",
            ValueKind::Str(_) => "str",
            ValueKind::Bytes(_) => "bytes",
            ValueKind::Ellipsis => "ellipsis",
            ValueKind::Tuple(_) => "tuple",
            ValueKind::List(_) => "list",
            ValueKind::Set(_) => "set",
            ValueKind::Dict(_) => "dict",
        }
    }
}

/// `json.dumps` refused the value (Python raises `TypeError` or `ValueError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
#[diagnostic(code(odd::manifest::json))]
pub struct JsonError {
    /// Python's message, e.g. `TypeError: 'complex' object is not iterable`.
    pub message: String,
    /// The value that cannot be written.
    #[label("this value")]
    pub span: Span,
}

impl Value {
    /// Build a value.
    pub fn new(kind: ValueKind, span: Span) -> Self {
        Value { kind, span }
    }

    /// The string, if this is a `str`.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            ValueKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items, if this is a list, tuple or set.
    pub fn as_sequence(&self) -> Option<&[Value]> {
        match &self.kind {
            ValueKind::List(v) | ValueKind::Tuple(v) | ValueKind::Set(v) => Some(v),
            _ => None,
        }
    }

    /// The value under a `str` key, if this is a dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match &self.kind {
            ValueKind::Dict(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The JSON text Python writes for this value with `json.dumps(value, default=list)`:
    /// tuples and sets as arrays, bytes as arrays of ints, `ensure_ascii` escapes,
    /// separators `, ` and `: `, floats as `repr(float)`, non-str keys converted.
    pub fn to_python_json(&self) -> Result<String, JsonError> {
        let mut out = String::new();
        write_json(self, &mut out)?;
        Ok(out)
    }
}

fn write_json(value: &Value, out: &mut String) -> Result<(), JsonError> {
    match &value.kind {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool(true) => out.push_str("true"),
        ValueKind::Bool(false) => out.push_str("false"),
        ValueKind::Int(i) => out.push_str(&int_text(i, value.span)?),
        ValueKind::Float(f) => out.push_str(&json_float(*f)),
        ValueKind::Str(s) => write_json_str(s, out),
        ValueKind::Bytes(b) => {
            out.push('[');
            for (i, byte) in b.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{byte}");
            }
            out.push(']');
        }
        ValueKind::Complex { .. } | ValueKind::Ellipsis => {
            return Err(JsonError {
                message: format!(
                    "TypeError: '{}' object is not iterable",
                    value.kind.type_name()
                ),
                span: value.span,
            });
        }
        ValueKind::Tuple(items) | ValueKind::List(items) | ValueKind::Set(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(item, out)?;
            }
            out.push(']');
        }
        ValueKind::Dict(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json_str(&json_key(k)?, out);
                out.push_str(": ");
                write_json(v, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn int_text(i: &Int, span: Span) -> Result<String, JsonError> {
    i.to_decimal().ok_or_else(|| JsonError {
        message: format!(
            "ValueError: Exceeds the limit ({} digits) for integer string conversion; \
             use sys.set_int_max_str_digits() to increase the limit",
            super::int::MAX_STR_DIGITS
        ),
        span,
    })
}

/// A dict key as `json.dumps` converts it.
pub(crate) fn json_key(key: &Value) -> Result<String, JsonError> {
    Ok(match &key.kind {
        ValueKind::Str(s) => s.clone(),
        ValueKind::Float(f) => json_float(*f),
        ValueKind::Bool(true) => "true".to_owned(),
        ValueKind::Bool(false) => "false".to_owned(),
        ValueKind::None => "null".to_owned(),
        ValueKind::Int(i) => int_text(i, key.span)?,
        other => {
            return Err(JsonError {
                message: format!(
                    "TypeError: keys must be str, int, float, bool or None, not {}",
                    other.type_name()
                ),
                span: key.span,
            });
        }
    })
}

/// `json.dumps` text of a float: `repr(float)` with `Infinity`, `-Infinity` and `NaN`.
pub fn json_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        float_repr(f)
    }
}

/// Python's `repr(float)` for a finite float: the shortest text that round-trips, in fixed
/// notation when the exponent is in `-4..16`, else `1e+16` / `1.5e-05` style.
pub fn float_repr(f: f64) -> String {
    // Rust's `{:e}` gives the shortest round-trip digits, like Python's repr.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len() as i32;
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        let decpt = exp + 1;
        if decpt <= 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat((-decpt) as usize));
            out.push_str(&digits);
        } else if decpt >= n {
            out.push_str(&digits);
            out.push_str(&"0".repeat((decpt - n) as usize));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..decpt as usize]);
            out.push('.');
            out.push_str(&digits[decpt as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    }
    out
}

/// A JSON string with `ensure_ascii=True` escaping.
pub(crate) fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// What Python's `hash`/`==` see of a hashable value: equal keys are equal Python objects
/// (`1 == 1.0 == True == (1+0j)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum HashKey {
    None,
    Ellipsis,
    Int(Int),
    Float(u64),
    Complex(u64, u64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<HashKey>),
}

fn real_key(f: f64) -> HashKey {
    if f.is_finite() && f.fract() == 0.0 {
        HashKey::Int(Int::from_integral_f64(f))
    } else {
        HashKey::Float(f.to_bits())
    }
}

/// The hash key of a value, or the name of the unhashable type inside it.
pub(crate) fn hash_key(value: &Value) -> Result<HashKey, (&'static str, Span)> {
    Ok(match &value.kind {
        ValueKind::None => HashKey::None,
        ValueKind::Ellipsis => HashKey::Ellipsis,
        ValueKind::Bool(b) => HashKey::Int(Int::from_i128(i128::from(*b))),
        ValueKind::Int(i) => HashKey::Int(i.clone()),
        ValueKind::Float(f) => real_key(*f),
        ValueKind::Complex { re, im } => {
            if *im == 0.0 {
                real_key(*re)
            } else {
                let re = if *re == 0.0 { 0.0f64 } else { *re };
                HashKey::Complex(re.to_bits(), im.to_bits())
            }
        }
        ValueKind::Str(s) => HashKey::Str(s.clone()),
        ValueKind::Bytes(b) => HashKey::Bytes(b.clone()),
        ValueKind::Tuple(items) => {
            HashKey::Tuple(items.iter().map(hash_key).collect::<Result<Vec<_>, _>>()?)
        }
        ValueKind::List(_) | ValueKind::Set(_) | ValueKind::Dict(_) => {
            return Err((value.kind.type_name(), value.span));
        }
    })
}

/// Remove duplicate set elements as `set(...)` does: the first stays.
pub(crate) fn dedup_set(items: Vec<Value>) -> Result<Vec<Value>, (&'static str, Span)> {
    let mut seen: HashMap<HashKey, ()> = HashMap::with_capacity(items.len());
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let key = hash_key(&item)?;
        if seen.insert(key, ()).is_none() {
            out.push(item);
        }
    }
    Ok(out)
}

/// Build a dict as `dict(zip(keys, values))` does: a repeated key keeps the first key
/// object and position, with the last value. On an unhashable key, gives the unhashable
/// type and where it is.
pub(crate) fn build_dict(
    entries: Vec<(Value, Value)>,
) -> Result<Vec<(Value, Value)>, (&'static str, Span)> {
    let mut index: HashMap<HashKey, usize> = HashMap::with_capacity(entries.len());
    let mut out: Vec<(Value, Value)> = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let key = hash_key(&k)?;
        match index.get(&key) {
            Some(&at) => out[at].1 = v,
            None => {
                index.insert(key, out.len());
                out.push((k, v));
            }
        }
    }
    Ok(out)
}

impl serde::Serialize for Value {
    /// A plain JSON value, as `to_python_json` would write it (numbers beyond `i128` and
    /// values JSON cannot hold are serialisation errors).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap, SerializeSeq};
        match &self.kind {
            ValueKind::None => s.serialize_none(),
            ValueKind::Bool(b) => s.serialize_bool(*b),
            ValueKind::Int(i) => match i.to_i128() {
                Some(v) => match i64::try_from(v) {
                    Ok(v) => s.serialize_i64(v),
                    Err(_) => s.serialize_i128(v),
                },
                None => Err(S::Error::custom(format!(
                    "integer {i} is too large for a JSON number here"
                ))),
            },
            ValueKind::Float(f) => s.serialize_f64(*f),
            ValueKind::Str(v) => s.serialize_str(v),
            ValueKind::Bytes(b) => {
                let mut seq = s.serialize_seq(Some(b.len()))?;
                for byte in b {
                    seq.serialize_element(byte)?;
                }
                seq.end()
            }
            ValueKind::Complex { .. } | ValueKind::Ellipsis => Err(S::Error::custom(format!(
                "a Python {} has no JSON form",
                self.kind.type_name()
            ))),
            ValueKind::Tuple(items) | ValueKind::List(items) | ValueKind::Set(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            ValueKind::Dict(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    let key = json_key(k).map_err(|e| S::Error::custom(e.message))?;
                    map.serialize_entry(&key, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        for (f, s) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
            (2.5, "2.5"),
            (-1234.5678, "-1234.5678"),
            (1e22, "1e+22"),
            (9999999999999998.0, "9999999999999998.0"),
        ] {
            assert_eq!(float_repr(f), s, "{f:?}");
        }
        assert_eq!(json_float(f64::INFINITY), "Infinity");
        assert_eq!(json_float(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(json_float(f64::NAN), "NaN");
    }

    #[test]
    fn ensure_ascii() {
        let mut out = String::new();
        write_json_str("a\"\\\n\u{7f}é😀\u{1}", &mut out);
        assert_eq!(out, r#""a\"\\\n\u007f\u00e9\ud83d\ude00\u0001""#);
    }
}
