//! Strict JSON for headers and claims sets.
//!
//! [`parse_object`] accepts exactly one JSON object (RFC 8259) in UTF-8 and refuses duplicate
//! member names at any depth: RFC 7515 §5.2 lets a JOSE implementation either reject them or
//! keep the last, and keeping the last lets two parsers read two different headers from the
//! same bytes. `serde_json`'s own `Map` keeps the last silently, so the value tree is built
//! here by a visitor that checks every object as it is read. Nesting is bounded by
//! `serde_json`'s recursion limit (128).
//!
//! [`ObjectWriter`] writes compact JSON objects with members in the order given, so headers we
//! produce are byte-for-byte deterministic.

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::JoseError;

/// A parsed JSON object.
pub type Object = Map<String, Value>;

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
    let duplicate = Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictSeed {
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match value {
        Ok(v) => Ok(v),
        Err(_) if duplicate.get() => Err(JoseError::DuplicateMember),
        Err(_) => Err(JoseError::InvalidJson),
    }
}

#[derive(Clone, Copy)]
struct StrictSeed<'a> {
    duplicate: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
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

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                self.duplicate.set(true);
                return Err(de::Error::custom("duplicate member name"));
            }
            let value = access.next_value_seed(self)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

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
        assert_eq!(obj["n"][5]["a"], Value::Object(Map::new()));
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
