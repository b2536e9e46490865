//! CBOR helpers: [ciborium] values for content, and a small well-formedness walker that keeps
//! the raw bytes of the data items a transcript, a digest or a signature covers.
//!
//! 18013-5 hashes and signs encodings it receives (`DeviceEngagementBytes`,
//! `EReaderKeyBytes`, `IssuerSignedItemBytes`, `DeviceNameSpacesBytes`…). A decoder that
//! re-encodes would silently change non-preferred encodings, so the structures of this module
//! are parsed through [`map`] and [`array`], which give each member as the byte slice it was
//! received as, and only leaves are decoded into [`Value`]s.

use alloc::string::String;
use alloc::vec::Vec;

use ciborium::value::{Integer, Value};

use super::error::OfflineError;

/// Deepest nesting of arrays, maps and tags accepted in a received message.
pub const MAX_DEPTH: usize = 32;

/// The CBOR tag of an embedded CBOR data item (RFC 8949 §3.4.5.1).
pub const TAG_ENCODED_CBOR: u64 = 24;

const MALFORMED: OfflineError = OfflineError::MalformedCbor;

/// A data item's head: major type, additional information, argument, and where it ends.
struct Head {
    major: u8,
    /// `None` for an indefinite length (additional information 31).
    arg: Option<u64>,
    end: usize,
}

fn head(buf: &[u8], pos: usize) -> Result<Head, OfflineError> {
    let initial = *buf.get(pos).ok_or(MALFORMED)?;
    let major = initial >> 5;
    let info = initial & 0x1F;
    let (arg, end) = match info {
        0..=23 => (Some(u64::from(info)), pos + 1),
        24..=27 => {
            let len = 1usize << (info - 24);
            let bytes = buf.get(pos + 1..pos + 1 + len).ok_or(MALFORMED)?;
            let arg = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            (Some(arg), pos + 1 + len)
        }
        // Reserved (RFC 8949 §3).
        28..=30 => return Err(MALFORMED),
        _ => {
            // Indefinite length: only strings, arrays and maps; "break" is handled by callers.
            if !matches!(major, 2..=5 | 7) {
                return Err(MALFORMED);
            }
            (None, pos + 1)
        }
    };
    Ok(Head { major, arg, end })
}

fn len_of(arg: u64) -> Result<usize, OfflineError> {
    usize::try_from(arg).map_err(|_| MALFORMED)
}

/// The end offset of the data item starting at `pos`.
fn item_end(buf: &[u8], pos: usize, depth: usize) -> Result<usize, OfflineError> {
    if depth > MAX_DEPTH {
        return Err(MALFORMED);
    }
    let h = head(buf, pos)?;
    match (h.major, h.arg) {
        (0 | 1, Some(_)) => Ok(h.end),
        (2 | 3, Some(len)) => {
            let end = h.end.checked_add(len_of(len)?).ok_or(MALFORMED)?;
            if end > buf.len() {
                return Err(MALFORMED);
            }
            Ok(end)
        }
        (2 | 3, None) => {
            // Definite-length chunks of the same major type, then a break (§3.2.3).
            let mut at = h.end;
            loop {
                if *buf.get(at).ok_or(MALFORMED)? == 0xFF {
                    return Ok(at + 1);
                }
                let chunk = head(buf, at)?;
                if chunk.major != h.major || chunk.arg.is_none() {
                    return Err(MALFORMED);
                }
                at = item_end(buf, at, depth + 1)?;
            }
        }
        (4 | 5, Some(count)) => {
            let per = if h.major == 5 { 2 } else { 1 };
            let mut at = h.end;
            for _ in 0..count.checked_mul(per).ok_or(MALFORMED)? {
                at = item_end(buf, at, depth + 1)?;
            }
            Ok(at)
        }
        (4 | 5, None) => {
            let mut at = h.end;
            let mut items = 0usize;
            loop {
                if *buf.get(at).ok_or(MALFORMED)? == 0xFF {
                    if h.major == 5 && items % 2 != 0 {
                        return Err(MALFORMED);
                    }
                    return Ok(at + 1);
                }
                at = item_end(buf, at, depth + 1)?;
                items += 1;
            }
        }
        (6, Some(_)) => item_end(buf, h.end, depth + 1),
        (7, Some(value)) => {
            // Simple values 24..=31 in one extra byte are not well-formed (§3.3).
            if buf[pos] == 0xF8 && value < 32 {
                return Err(MALFORMED);
            }
            Ok(h.end)
        }
        // A lone "break", or an indefinite-length major type 7 item.
        _ => Err(MALFORMED),
    }
}

/// Splits the first data item off `buf`.
pub(crate) fn split_first(buf: &[u8]) -> Result<(&[u8], &[u8]), OfflineError> {
    let end = item_end(buf, 0, 0)?;
    Ok(buf.split_at(end))
}

/// Checks that `buf` is exactly one well-formed data item.
pub(crate) fn check_one(buf: &[u8]) -> Result<(), OfflineError> {
    match split_first(buf)? {
        (_, []) => Ok(()),
        _ => Err(MALFORMED),
    }
}

/// Decodes exactly one data item into a [`Value`].
pub(crate) fn decode(raw: &[u8]) -> Result<Value, OfflineError> {
    check_one(raw)?;
    ciborium::de::from_reader_with_recursion_limit(raw, MAX_DEPTH + 1).map_err(|_| MALFORMED)
}

/// Encodes a [`Value`] (preferred serialization, definite lengths).
pub(crate) fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing a `Value` into a `Vec` cannot fail: the writer is infallible and every `Value`
    // variant has an encoding. An error would leave `out` short, and every reader of our
    // messages would refuse it.
    let _ = ciborium::ser::into_writer(value, &mut out);
    out
}

/// A map key as 18013-5 uses them: text or integer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    Int(i128),
    Text(String),
    Other,
}

impl Key {
    fn from_value(value: Value) -> Self {
        match value {
            Value::Integer(i) => Key::Int(i128::from(i)),
            Value::Text(t) => Key::Text(t),
            _ => Key::Other,
        }
    }
}

/// A map's members, each value as received.
pub(crate) struct RawMap<'a> {
    pub(crate) entries: Vec<(Key, &'a [u8])>,
}

impl<'a> RawMap<'a> {
    /// The value for a text key.
    pub(crate) fn text(&self, key: &str) -> Option<&'a [u8]> {
        self.entries
            .iter()
            .find(|(k, _)| matches!(k, Key::Text(t) if t == key))
            .map(|(_, v)| *v)
    }

    /// The value for an integer key.
    pub(crate) fn int(&self, key: i128) -> Option<&'a [u8]> {
        self.entries
            .iter()
            .find(|(k, _)| *k == Key::Int(key))
            .map(|(_, v)| *v)
    }

    /// The value for a text key that must be present.
    pub(crate) fn required(&self, key: &'static str) -> Result<&'a [u8], OfflineError> {
        self.text(key).ok_or(OfflineError::MissingField(key))
    }
}

/// Items of an array or a map, as raw slices; `what` names the field for errors.
fn items<'a>(raw: &'a [u8], major: u8, what: &'static str) -> Result<Vec<&'a [u8]>, OfflineError> {
    check_one(raw)?;
    let h = head(raw, 0)?;
    if h.major != major {
        return Err(OfflineError::InvalidField(what));
    }
    let mut out = Vec::new();
    let mut at = h.end;
    let mut take = |at: &mut usize| -> Result<(), OfflineError> {
        let end = item_end(raw, *at, 1)?;
        out.push(&raw[*at..end]);
        *at = end;
        Ok(())
    };
    match h.arg {
        Some(count) => {
            let per = if major == 5 { 2 } else { 1 };
            for _ in 0..count * per {
                take(&mut at)?;
            }
        }
        None => {
            while raw[at] != 0xFF {
                take(&mut at)?;
            }
        }
    }
    Ok(out)
}

/// The elements of an array, as received.
pub(crate) fn array<'a>(raw: &'a [u8], what: &'static str) -> Result<Vec<&'a [u8]>, OfflineError> {
    items(raw, 4, what)
}

/// The members of a map, values as received. Duplicate keys are refused (RFC 8949 §5.6).
pub(crate) fn map<'a>(raw: &'a [u8], what: &'static str) -> Result<RawMap<'a>, OfflineError> {
    let flat = items(raw, 5, what)?;
    let mut entries: Vec<(Key, &[u8])> = Vec::with_capacity(flat.len() / 2);
    for pair in flat.chunks_exact(2) {
        let key = Key::from_value(decode(pair[0])?);
        if key == Key::Other {
            return Err(OfflineError::InvalidField(what));
        }
        // Keys compare by value: `0x01` and `0x1801` are the same key.
        if entries.iter().any(|(k, _)| *k == key) {
            return Err(OfflineError::DuplicateKey);
        }
        entries.push((key, pair[1]));
    }
    Ok(RawMap { entries })
}

/// The content of a definite-length byte string, as received.
pub(crate) fn bytes<'a>(raw: &'a [u8], what: &'static str) -> Result<&'a [u8], OfflineError> {
    check_one(raw)?;
    let h = head(raw, 0)?;
    match (h.major, h.arg) {
        (2, Some(_)) => Ok(&raw[h.end..]),
        _ => Err(OfflineError::InvalidField(what)),
    }
}

/// The text of a text string.
pub(crate) fn text(raw: &[u8], what: &'static str) -> Result<String, OfflineError> {
    match decode(raw)? {
        Value::Text(t) => Ok(t),
        _ => Err(OfflineError::InvalidField(what)),
    }
}

/// An unsigned integer.
pub(crate) fn uint(raw: &[u8], what: &'static str) -> Result<u64, OfflineError> {
    match decode(raw)? {
        Value::Integer(i) => u64::try_from(i).map_err(|_| OfflineError::InvalidField(what)),
        _ => Err(OfflineError::InvalidField(what)),
    }
}

/// An integer.
pub(crate) fn int(raw: &[u8], what: &'static str) -> Result<i128, OfflineError> {
    match decode(raw)? {
        Value::Integer(i) => Ok(i128::from(i)),
        _ => Err(OfflineError::InvalidField(what)),
    }
}

/// A boolean.
pub(crate) fn boolean(raw: &[u8], what: &'static str) -> Result<bool, OfflineError> {
    match decode(raw)? {
        Value::Bool(b) => Ok(b),
        _ => Err(OfflineError::InvalidField(what)),
    }
}

/// The embedded item of `#6.24(bstr)`, as received.
pub(crate) fn tag24<'a>(raw: &'a [u8], what: &'static str) -> Result<&'a [u8], OfflineError> {
    check_one(raw)?;
    let h = head(raw, 0)?;
    if h.major != 6 || h.arg != Some(TAG_ENCODED_CBOR) {
        return Err(OfflineError::InvalidField(what));
    }
    let inner = bytes(&raw[h.end..], what)?;
    check_one(inner)?;
    Ok(inner)
}

/// `#6.24(bstr .cbor item)` for an encoded item, in preferred serialization.
pub(crate) fn wrap_tag24(item: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(item.len() + 11);
    out.extend_from_slice(&[0xD8, 0x18]);
    push_head(&mut out, 2, item.len() as u64);
    out.extend_from_slice(item);
    out
}

/// Appends a head in preferred serialization (RFC 8949 §4.2.1).
pub(crate) fn push_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if arg <= 0xFF {
        out.extend_from_slice(&[m | 24, arg as u8]);
    } else if arg <= 0xFFFF {
        out.push(m | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= 0xFFFF_FFFF {
        out.push(m | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

/// A text string value.
pub(crate) fn tstr(text: &str) -> Value {
    Value::Text(text.into())
}

/// An integer value.
pub(crate) fn int_value(i: i64) -> Value {
    Value::Integer(Integer::from(i))
}

/// An unsigned integer value.
pub(crate) fn uint_value(i: u64) -> Value {
    Value::Integer(Integer::from(i))
}

/// `#6.24(bstr)` around an already encoded item, as a value.
pub(crate) fn tag24_value(item: Vec<u8>) -> Value {
    Value::Tag(TAG_ENCODED_CBOR, alloc::boxed::Box::new(Value::Bytes(item)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn walks_definite_and_indefinite_items() {
        // [1, "a", h'0102', {1: 2}] definite, then the same with indefinite containers.
        let definite = [0x84, 0x01, 0x61, b'a', 0x42, 1, 2, 0xA1, 0x01, 0x02];
        assert_eq!(array(&definite, "t").unwrap().len(), 4);
        let indefinite = [
            0x9F, 0x01, 0x7F, 0x61, b'a', 0xFF, 0xBF, 0x01, 0x02, 0xFF, 0xFF,
        ];
        let items = array(&indefinite, "t").unwrap();
        assert_eq!(
            items,
            vec![&[0x01][..], &[0x7F, 0x61, b'a', 0xFF], &[0xBF, 1, 2, 0xFF]]
        );
    }

    #[test]
    fn refuses_malformed_items() {
        for bad in [
            &[][..],
            &[0x18],                   // missing argument byte
            &[0x1C],                   // reserved additional information
            &[0x62, b'a'],             // string shorter than its length
            &[0x82, 0x01],             // array missing an element
            &[0xFF],                   // lone break
            &[0x9F, 0x01],             // indefinite array without break
            &[0xBF, 0x01, 0xFF],       // indefinite map with an odd count
            &[0x5F, 0x61, b'a', 0xFF], // text chunk in a byte string
            &[0xF8, 0x10],             // simple value in two bytes below 32
            &[0x01, 0x02],             // trailing bytes
            &[0x1F],                   // indefinite-length integer
        ] {
            assert_eq!(decode(bad), Err(MALFORMED), "{bad:02x?}");
        }
    }

    #[test]
    fn refuses_too_deep_nesting() {
        let mut deep = vec![0x81; MAX_DEPTH + 2];
        deep.push(0x01);
        assert_eq!(check_one(&deep), Err(MALFORMED));
        let mut ok = vec![0x81; MAX_DEPTH];
        ok.push(0x01);
        assert_eq!(check_one(&ok), Ok(()));
    }

    #[test]
    fn maps_refuse_duplicate_keys_even_in_other_encodings() {
        assert_eq!(
            map(&[0xA2, 0x01, 0x02, 0x01, 0x03], "m").err(),
            Some(OfflineError::DuplicateKey)
        );
        assert_eq!(
            map(&[0xA2, 0x01, 0x02, 0x18, 0x01, 0x03], "m").err(),
            Some(OfflineError::DuplicateKey)
        );
        let ok = map(&[0xA2, 0x01, 0x02, 0x61, b'a', 0x03], "m").unwrap();
        assert_eq!(ok.int(1), Some(&[0x02][..]));
        assert_eq!(ok.text("a"), Some(&[0x03][..]));
    }

    #[test]
    fn tag24_keeps_the_received_bytes() {
        // A non-preferred length (0x59 00 01 instead of 0x41) stays as received.
        let raw = [0xD8, 0x18, 0x59, 0x00, 0x01, 0x07];
        assert_eq!(tag24(&raw, "t").unwrap(), &[0x07]);
        assert_eq!(wrap_tag24(&[0x07]), vec![0xD8, 0x18, 0x41, 0x07]);
        assert!(tag24(&[0xD8, 0x19, 0x41, 0x07], "t").is_err());
        // The embedded bytes must themselves be one data item.
        assert!(tag24(&[0xD8, 0x18, 0x42, 0x07, 0x07], "t").is_err());
    }
}
