//! Hexadecimal text, as used on the wire for AIDs and APDUs in envelopes.

use alloc::string::String;
use alloc::vec::Vec;

const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
const LOWER_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Upper-case hex of `bytes`.
pub fn encode_upper(bytes: &[u8]) -> String {
    encode_with(bytes, DIGITS)
}

/// Lower-case hex of `bytes` (the offline phone state's form).
pub fn encode_lower(bytes: &[u8]) -> String {
    encode_with(bytes, LOWER_DIGITS)
}

fn encode_with(bytes: &[u8], digits: &[u8; 16]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(digits[usize::from(b >> 4)]));
        out.push(char::from(digits[usize::from(b & 0x0F)]));
    }
    out
}

/// Decodes hex (either case); `None` for an odd length or a non-hex character.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if text.len() % 2 != 0 {
        return None;
    }
    text.chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        assert_eq!(encode_upper(&[0x00, 0xA4, 0xff]), "00A4FF");
        assert_eq!(decode("00a4Ff"), Some(alloc::vec![0x00, 0xA4, 0xFF]));
        assert_eq!(decode(""), Some(alloc::vec![]));
        assert_eq!(decode("0"), None);
        assert_eq!(decode("0g"), None);
        assert_eq!(decode("+0"), None);
    }
}

/// `#[serde(with = "crate::hex::serde")]`: bytes as upper-case hex text.
pub mod serde {
    use alloc::string::String;
    use alloc::vec::Vec;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Serializes bytes as hex.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode_upper(bytes))
    }

    /// Deserializes hex into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        super::decode(&text).ok_or_else(|| D::Error::custom("invalid hex"))
    }
}

/// `#[serde(with = "crate::hex::serde_option")]`: optional bytes as hex text.
pub mod serde_option {
    use alloc::vec::Vec;
    use serde::{Deserializer, Serializer};

    /// Serializes optional bytes as hex.
    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => super::serde::serialize(bytes, s),
            None => s.serialize_none(),
        }
    }

    /// Deserializes hex into bytes (absence is handled by `#[serde(default)]`).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        super::serde::deserialize(d).map(Some)
    }
}
