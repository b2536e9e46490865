//! Strict JSON for headers, claims sets and keys, without serde.
//!
//! [`parse_object`] accepts exactly one JSON object (RFC 8259) in UTF-8 and refuses duplicate
//! member names at any depth: RFC 7515 §5.2 lets a JOSE implementation either reject them or
//! keep the last, and keeping the last lets two parsers read two different headers from the
//! same bytes. Nesting is bounded ([`MAX_DEPTH`]), so hostile input cannot exhaust the stack.
//!
//! The parser is hand-written rather than serde_json's: the npm package's wasm carries this
//! module, and serde's generic machinery (a deserializer per type, `Value` round trips, float
//! formatting) was most of its size. Numbers are kept as their validated text and read back
//! only as integers ([`Number::as_u64`]), which is all JOSE and our claims need; no float code
//! is linked.
//!
//! [`ObjectWriter`] writes compact JSON objects with members in the order given, so headers we
//! produce are byte-for-byte deterministic; [`Value::write`] writes any parsed value back.

use alloc::string::String;
use alloc::vec::Vec;

use super::JoseError;

/// The deepest nesting of arrays and objects accepted (serde_json's default recursion limit).
pub const MAX_DEPTH: usize = 128;

/// A JSON value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as its text.
    Number(Number),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object.
    Object(Object),
}

/// A JSON number, kept as the text it was written with (valid RFC 8259 §6 grammar).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Number(String);

impl Number {
    /// The number's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value when the text is a non-negative integer literal (no sign, fraction or
    /// exponent) that fits in a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        if self.0.bytes().all(|b| b.is_ascii_digit()) {
            self.0.parse().ok()
        } else {
            None
        }
    }
}

impl From<u64> for Number {
    fn from(n: u64) -> Self {
        Self(alloc::format!("{n}"))
    }
}

/// A JSON object: members in document order, names unique.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Object(Vec<(String, Value)>);

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The member named `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Removes and returns the member named `name`.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let at = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(at).1)
    }

    /// Whether a member named `name` is present.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Adds a member, or replaces the value of the member of that name.
    pub fn insert(&mut self, name: impl Into<String>, value: Value) {
        let name = name.into();
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some((_, v)) => *v = value,
            None => self.0.push((name, value)),
        }
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the object has no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The members, in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The member names, in document order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// Compact JSON text of the object, members in document order.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        write_object(&mut out, self);
        out
    }
}

impl core::ops::Index<&str> for Object {
    type Output = Value;

    /// The member named `name`, or [`Value::Null`] when there is none.
    fn index(&self, name: &str) -> &Value {
        const NULL: Value = Value::Null;
        self.get(name).unwrap_or(&NULL)
    }
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is a string.
    pub fn is_string(&self) -> bool {
        matches!(self, Self::String(_))
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Self::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The integer, if this is a non-negative integer literal that fits a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Self::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// Appends the compact JSON text of this value to `out`.
    pub fn write(&self, out: &mut String) {
        match self {
            Self::Null => out.push_str("null"),
            Self::Bool(true) => out.push_str("true"),
            Self::Bool(false) => out.push_str("false"),
            Self::Number(n) => out.push_str(&n.0),
            Self::String(s) => write_string(out, s),
            Self::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Self::Object(o) => write_object(out, o),
        }
    }

    /// Compact JSON text of this value.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

fn write_object(out: &mut String, object: &Object) {
    out.push('{');
    for (i, (k, v)) in object.0.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, k);
        out.push(':');
        v.write(out);
    }
    out.push('}');
}

/// Parses `bytes` as one JSON object, refusing non-UTF-8 text, any other JSON value at the top
/// level, and duplicate member names at any depth.
pub fn parse_object(bytes: &[u8]) -> Result<Object, JoseError> {
    let text = core::str::from_utf8(bytes).map_err(|_| JoseError::InvalidUtf8)?;
    match parse_value(text)? {
        Value::Object(map) => Ok(map),
        _ => Err(JoseError::NotAnObject),
    }
}

/// Parses `text` as one JSON value, refusing duplicate member names at any depth.
pub fn parse_value(text: &str) -> Result<Value, JoseError> {
    let mut p = Parser {
        text: text.as_bytes(),
        at: 0,
    };
    p.skip_space();
    let value = p.value(0)?;
    p.skip_space();
    if p.at == p.text.len() {
        Ok(value)
    } else {
        Err(JoseError::InvalidJson)
    }
}

/// A recursive-descent parser over UTF-8 text (RFC 8259). Positions only ever advance past
/// ASCII bytes or whole UTF-8 sequences, so every slice taken is on a char boundary.
struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Result<Value, JoseError> {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(JoseError::InvalidJson)
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JoseError> {
        match self.peek().ok_or(JoseError::InvalidJson)? {
            b'{' => self.object(depth + 1).map(Value::Object),
            b'[' => self.array(depth + 1).map(Value::Array),
            b'"' => self.string().map(Value::String),
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'n' => self.literal(b"null", Value::Null),
            b'-' | b'0'..=b'9' => self.number().map(Value::Number),
            _ => Err(JoseError::InvalidJson),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Object, JoseError> {
        if depth > MAX_DEPTH {
            return Err(JoseError::InvalidJson);
        }
        self.at += 1; // '{'
        let mut members: Vec<(String, Value)> = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Object(members));
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return Err(JoseError::InvalidJson);
            }
            let name = self.string()?;
            // RFC 8259 §8.3: names compare after unescaping, which `string` has done.
            if members.iter().any(|(k, _)| *k == name) {
                return Err(JoseError::DuplicateMember);
            }
            self.skip_space();
            if self.peek() != Some(b':') {
                return Err(JoseError::InvalidJson);
            }
            self.at += 1;
            self.skip_space();
            let value = self.value(depth)?;
            members.push((name, value));
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Object(members));
                }
                _ => return Err(JoseError::InvalidJson),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Vec<Value>, JoseError> {
        if depth > MAX_DEPTH {
            return Err(JoseError::InvalidJson);
        }
        self.at += 1; // '['
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(items);
        }
        loop {
            self.skip_space();
            items.push(self.value(depth)?);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(items);
                }
                _ => return Err(JoseError::InvalidJson),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<Number, JoseError> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(JoseError::InvalidJson),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(JoseError::InvalidJson);
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(JoseError::InvalidJson);
            }
        }
        let text =
            core::str::from_utf8(&self.text[start..self.at]).map_err(|_| JoseError::InvalidJson)?;
        Ok(Number(text.into()))
    }

    fn hex4(&mut self) -> Result<u32, JoseError> {
        let digits = self
            .text
            .get(self.at..self.at + 4)
            .ok_or(JoseError::InvalidJson)?;
        let mut n = 0u32;
        for &d in digits {
            let v = char::from(d).to_digit(16).ok_or(JoseError::InvalidJson)?;
            n = n << 4 | v;
        }
        self.at += 4;
        Ok(n)
    }

    /// A string literal (RFC 8259 §7): no raw control characters, the listed escapes only, and
    /// `\u` surrogates only in valid pairs.
    fn string(&mut self) -> Result<String, JoseError> {
        self.at += 1; // '"'
        let mut out = String::new();
        loop {
            let run = self.at;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            // The run ends before an ASCII byte (or at the end), so on a char boundary.
            out.push_str(
                core::str::from_utf8(&self.text[run..self.at])
                    .map_err(|_| JoseError::InvalidJson)?,
            );
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let escape = self.peek().ok_or(JoseError::InvalidJson)?;
                    self.at += 1;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{08}',
                        b'f' => '\u{0c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(JoseError::InvalidJson),
                    };
                    out.push(c);
                }
                // A raw control character, or the end of the text.
                _ => return Err(JoseError::InvalidJson),
            }
        }
    }

    fn unicode_escape(&mut self) -> Result<char, JoseError> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.text[self.at..].starts_with(b"\\u") {
                    return Err(JoseError::InvalidJson);
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(JoseError::InvalidJson);
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(JoseError::InvalidJson),
            code => code,
        };
        char::from_u32(code).ok_or(JoseError::InvalidJson)
    }
}

/// serde for [`Value`], so that the types read and written by hand here also work with serde
/// formats (the server stores claims with serde_json). Only shells that use serde instantiate
/// this; the npm package's wasm does not.
mod serde_impls {
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::fmt;

    use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, Serializer};

    use super::{Number, Object, Value};

    impl Serialize for Value {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                Value::Null => s.serialize_unit(),
                Value::Bool(b) => s.serialize_bool(*b),
                Value::Number(n) => {
                    if let Some(u) = n.as_u64() {
                        s.serialize_u64(u)
                    } else if let Ok(i) = n.as_str().parse::<i64>() {
                        s.serialize_i64(i)
                    } else {
                        let f = n
                            .as_str()
                            .parse::<f64>()
                            .map_err(|_| ser::Error::custom("number out of range"))?;
                        s.serialize_f64(f)
                    }
                }
                Value::String(text) => s.serialize_str(text),
                Value::Array(items) => {
                    let mut seq = s.serialize_seq(Some(items.len()))?;
                    for item in items {
                        seq.serialize_element(item)?;
                    }
                    seq.end()
                }
                Value::Object(object) => {
                    let mut map = s.serialize_map(Some(object.len()))?;
                    for (k, v) in object.iter() {
                        map.serialize_entry(k, v)?;
                    }
                    map.end()
                }
            }
        }
    }

    struct ValueVisitor;

    impl<'de> Visitor<'de> for ValueVisitor {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }

        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }

        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::Number(Number(alloc::format!("{v}"))))
        }

        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::Number(v.into()))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
            if v.is_finite() {
                Ok(Value::Number(Number(alloc::format!("{v:e}"))))
            } else {
                Err(E::custom("non-finite number"))
            }
        }

        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.into()))
        }

        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }

        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            Value::deserialize(d)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
            let mut object = Object::new();
            while let Some(key) = access.next_key::<String>()? {
                if object.contains_key(&key) {
                    return Err(de::Error::custom("duplicate member name"));
                }
                let value = access.next_value()?;
                object.0.push((key, value));
            }
            Ok(Value::Object(object))
        }
    }

    impl<'de> Deserialize<'de> for Value {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
            d.deserialize_any(ValueVisitor)
        }
    }
}

/// Implements serde's traits for a type read and written by hand: serialized as the JSON its
/// `$write` produces, deserialized through [`Value`] and its `$read`. One mapping, two doors.
macro_rules! serde_via_json {
    ($ty:ty, $write:expr, $read:expr) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let text: alloc::string::String = $write(self);
                $crate::jose::json::parse_value(&text)
                    .map_err(|_| <S::Error as serde::ser::Error>::custom("unwritable"))?
                    .serialize(s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = $crate::jose::json::Value::deserialize(d)?;
                $read(value).map_err(<D::Error as serde::de::Error>::custom)
            }
        }
    };
}
pub(crate) use serde_via_json;

/// Writes a compact JSON object member by member, in the order given.
#[derive(Debug)]
pub struct ObjectWriter {
    out: String,
    empty: bool,
}

impl Default for ObjectWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ObjectWriter {
    /// Starts an empty object.
    pub fn new() -> Self {
        Self {
            out: String::from("{"),
            empty: true,
        }
    }

    fn key(&mut self, name: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        write_string(&mut self.out, name);
        self.out.push(':');
    }

    /// Adds a string member.
    pub fn string(&mut self, name: &str, value: &str) -> &mut Self {
        self.key(name);
        write_string(&mut self.out, value);
        self
    }

    /// Adds a string member when `value` is `Some`.
    pub fn optional_string(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            self.string(name, value);
        }
        self
    }

    /// Adds a member whose value is already-serialized JSON (for example a nested object from
    /// another `ObjectWriter`). The caller vouches that `json` is one valid JSON value.
    pub fn raw(&mut self, name: &str, json: &str) -> &mut Self {
        self.key(name);
        self.out.push_str(json);
        self
    }

    /// Closes the object and returns its text.
    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// Appends `value` to `out` as a JSON string literal (RFC 8259 §7).
pub fn write_string(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let b = c as u32 as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[b >> 4]));
                out.push(char::from(HEX[b & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_objects() {
        let obj = parse_object(br#"{"alg":"ES256","n":[1,2.5,-3,null,true,{"a":{}}]}"#).unwrap();
        assert_eq!(obj["alg"], "ES256");
        let Value::Array(n) = &obj["n"] else {
            panic!("not an array")
        };
        assert_eq!(n.len(), 6);
        assert_eq!(n[1], Value::Number(Number("2.5".into())));
        assert_eq!(n[0].as_u64(), Some(1));
        assert_eq!(n[2].as_u64(), None);
        assert_eq!(n[3], Value::Null);
        assert_eq!(n[5].as_object().unwrap()["a"], Value::Object(Object::new()));
        assert_eq!(obj["missing"], Value::Null);
    }

    #[test]
    fn numbers_follow_the_grammar() {
        for ok in [
            "0",
            "-0",
            "12",
            "-12",
            "1.5",
            "1e9",
            "1E+9",
            "1.25e-3",
            "18446744073709551616",
        ] {
            assert!(matches!(parse_value(ok), Ok(Value::Number(_))), "{ok}");
        }
        for bad in [
            "01", "+1", "1.", ".5", "1e", "1e+", "-", "0x10", "1.5.2", "NaN", "Infinity",
        ] {
            assert_eq!(parse_value(bad), Err(JoseError::InvalidJson), "{bad}");
        }
        let int = |t: &str| parse_value(t).unwrap().as_u64();
        assert_eq!(int("18446744073709551615"), Some(u64::MAX));
        assert_eq!(int("18446744073709551616"), None);
        assert_eq!(int("1e3"), None);
        assert_eq!(int("1.0"), None);
        assert_eq!(int("-1"), None);
        assert_eq!(int("-0"), None);
    }

    #[test]
    fn strings_unescape_and_refuse_bad_escapes() {
        let v = parse_value(r#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00z""#).unwrap();
        assert_eq!(v, "a\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1f600}z");
        assert_eq!(parse_value("\"日本語\"").unwrap(), "日本語");
        for bad in [
            r#""\x41""#,
            r#""\u12""#,
            r#""\u12g4""#,
            r#""\udc00""#,
            r#""\ud800\u0041""#,
            r#""\ud800x""#,
            "\"a\u{1}\"",
            "\"a\nb\"",
            "\"abc",
            "\"\\",
        ] {
            assert_eq!(parse_value(bad), Err(JoseError::InvalidJson), "{bad:?}");
        }
    }

    #[test]
    fn nesting_is_bounded_at_max_depth() {
        let nested = |depth: usize| {
            let mut t = "[".repeat(depth);
            t.push_str(&"]".repeat(depth));
            t
        };
        assert!(parse_value(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(
            parse_value(&nested(MAX_DEPTH + 1)),
            Err(JoseError::InvalidJson)
        );
    }

    #[test]
    fn values_write_back_to_equivalent_text() {
        let text = r#"{"a":[1,-2.5e3,true,false,null,"x\u0001\"y"],"b":{"c":{}},"d":[]}"#;
        let obj = parse_object(text.as_bytes()).unwrap();
        assert_eq!(obj.to_json(), text);
        let spaced = " {\n \"a\" : [ 1 , 2 ] ,\t\"b\":\r{ } } ";
        assert_eq!(
            parse_object(spaced.as_bytes()).unwrap().to_json(),
            r#"{"a":[1,2],"b":{}}"#
        );
        assert_eq!(obj.keys().collect::<Vec<_>>(), ["a", "b", "d"]);
    }

    #[test]
    fn rejects_duplicates_at_any_depth() {
        for text in [
            r#"{"alg":"ES256","alg":"none"}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"{"a":[{"x":1},{"y":1,"y":1}]}"#,
            // Escapes decode to the same name (RFC 8259 §8.3 compares decoded names).
            r#"{"alg":1,"\u0061lg":2}"#,
        ] {
            assert_eq!(
                parse_object(text.as_bytes()),
                Err(JoseError::DuplicateMember),
                "{text}"
            );
        }
        assert_eq!(
            parse_value(r#"[{"a":1,"a":1}]"#),
            Err(JoseError::DuplicateMember)
        );
    }

    #[test]
    fn rejects_non_objects_and_bad_json() {
        for text in ["[]", "\"alg\"", "1", "null", "true"] {
            assert_eq!(
                parse_object(text.as_bytes()),
                Err(JoseError::NotAnObject),
                "{text}"
            );
        }
        for text in [
            "",
            "{",
            "{\"a\":1}x",
            "{\"a\":1}{}",
            "{'a':1}",
            "{\"a\":1,}",
            "{\"a\":\"\\ud800\"}",
        ] {
            assert_eq!(
                parse_object(text.as_bytes()),
                Err(JoseError::InvalidJson),
                "{text}"
            );
        }
        assert_eq!(
            parse_object(b"{\"a\":\"\xff\"}"),
            Err(JoseError::InvalidUtf8)
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut text = String::new();
        for _ in 0..10_000 {
            text.push_str("{\"a\":");
        }
        assert_eq!(parse_object(text.as_bytes()), Err(JoseError::InvalidJson));
    }

    #[test]
    fn writer_escapes_and_orders() {
        let mut w = ObjectWriter::new();
        w.string("alg", "ES256")
            .optional_string("kid", None)
            .string("typ", "a\"b\\c\n\u{1}é");
        let text = w.finish();
        assert_eq!(text, r#"{"alg":"ES256","typ":"a\"b\\c\n\u0001é"}"#);
        let obj = parse_object(text.as_bytes()).unwrap();
        assert_eq!(obj["typ"], "a\"b\\c\n\u{1}é");
        assert_eq!(ObjectWriter::new().finish(), "{}");
    }
}
