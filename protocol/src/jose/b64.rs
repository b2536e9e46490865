//! Strict unpadded base64url (RFC 7515 §2, RFC 4648 §5).
//!
//! Decoding refuses `=` padding, characters outside the URL-safe alphabet, lengths that are
//! 1 mod 4 and non-canonical encodings (non-zero trailing bits), so every byte string has
//! exactly one accepted encoding. The work is done by `base64ct`'s constant-time
//! [`Base64UrlUnpadded`].

use alloc::string::String;
use alloc::vec::Vec;

use base64ct::{Base64UrlUnpadded, Encoding};

use super::JoseError;

/// Encodes `bytes` as unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Length of the unpadded base64url encoding of `n` bytes (saturating).
pub fn encoded_len(n: usize) -> usize {
    (n / 3).saturating_mul(4) + [0, 2, 3][n % 3]
}

/// Decodes strict unpadded base64url.
pub fn decode(text: &str) -> Result<Vec<u8>, JoseError> {
    Base64UrlUnpadded::decode_vec(text).map_err(|_| JoseError::InvalidBase64)
}

/// Decodes strict unpadded base64url that must be exactly `N` bytes long.
///
/// Returns `None` when the text is valid base64url of another length, so callers can report
/// the error that fits their context (a JWK coordinate, an IV, a tag).
pub fn decode_array<const N: usize>(text: &str) -> Result<Option<[u8; N]>, JoseError> {
    let mut out = [0u8; N];
    // An exact-length encoding of N bytes is ceil(4N/3) characters; check it first so a
    // longer or shorter input is a length problem, not a base64 one.
    if text.len() != Base64UrlUnpadded::encoded_len(&out) {
        decode(text)?;
        return Ok(None);
    }
    match Base64UrlUnpadded::decode(text, &mut out) {
        Ok(decoded) if decoded.len() == N => Ok(Some(out)),
        Ok(_) => Ok(None),
        Err(_) => Err(JoseError::InvalidBase64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        // RFC 4648 §10 test strings, base64url alphabet, no padding.
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), enc);
            assert_eq!(encoded_len(plain.len()), enc.len());
            assert_eq!(decode(enc).unwrap(), plain.as_bytes());
        }
        // URL-safe alphabet: 0xfb 0xff encode with '-' and '_' (RFC 4648 §5).
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(decode("-_8").unwrap(), [0xfb, 0xff]);
    }

    #[test]
    fn rejects_padding() {
        assert_eq!(decode("Zg=="), Err(JoseError::InvalidBase64));
        assert_eq!(decode("Zm8="), Err(JoseError::InvalidBase64));
        assert_eq!(decode("Zg="), Err(JoseError::InvalidBase64));
    }

    #[test]
    fn rejects_non_alphabet() {
        for bad in [
            "Zm9v+g", "Zm9v/g", "Zm 9v", "Zm9v\n", "Zm.9", "Zm9vé", "\0\0",
        ] {
            assert_eq!(decode(bad), Err(JoseError::InvalidBase64), "{bad:?}");
        }
    }

    #[test]
    fn rejects_non_canonical_trailing_bits() {
        // "Zg" is 'f'; "Zh".."Zv" carry the same byte with non-zero trailing bits.
        assert_eq!(decode("Zg").unwrap(), b"f");
        for bad in ["Zh", "Zi", "Zv"] {
            assert_eq!(decode(bad), Err(JoseError::InvalidBase64), "{bad}");
        }
        // "Zm8" is "fo"; "Zm9" sets a trailing bit.
        assert_eq!(decode("Zm9"), Err(JoseError::InvalidBase64));
    }

    #[test]
    fn rejects_impossible_length() {
        assert_eq!(decode("Z"), Err(JoseError::InvalidBase64));
        assert_eq!(decode("Zm9vY"), Err(JoseError::InvalidBase64));
    }

    #[test]
    fn decode_array_lengths() {
        assert_eq!(decode_array::<3>("Zm9v").unwrap(), Some(*b"foo"));
        assert_eq!(decode_array::<3>("Zm9vYg").unwrap(), None);
        assert_eq!(decode_array::<3>("Zm8").unwrap(), None);
        assert_eq!(decode_array::<3>("Zm9="), Err(JoseError::InvalidBase64));
        assert_eq!(decode_array::<2>("Zm9"), Err(JoseError::InvalidBase64));
        assert_eq!(decode_array::<32>(""), Ok(None));
    }
}
