//! JWS compact serialization with ES256 only (RFC 7515 §7.1, RFC 7518 §3.4).
//!
//! Decoding follows RFC 8725: `alg` is checked against an allow-list of one (`ES256`) before
//! anything else is trusted; `crit`, `zip` and `b64: false` are refused; the signature must be
//! exactly 64 bytes `R‖S` (a DER signature is refused, not converted). High-S signatures are
//! accepted: ECDSA does not forbid them, WebCrypto produces them and RFC 7515 A.3's example
//! has one. Keys are chosen by the caller, typically by the header's `kid`; keys embedded in
//! the header (`jwk`, `jku`, `x5c`, `x5u`) are never used.

use alloc::string::String;
use alloc::vec::Vec;

use super::header::{self, HeaderParams};
use super::json::{self, Object, ObjectWriter};
use super::{JoseError, MAX_TOKEN_LEN, PrivateKey, PublicKey, b64};

/// Length of an ES256 signature: `R‖S`, 32 bytes each (RFC 7518 §3.4).
pub const SIGNATURE_LEN: usize = 64;

/// Signature algorithms this profile accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// ECDSA with P-256 and SHA-256 (RFC 7518 §3.4).
    Es256,
}

impl SignatureAlgorithm {
    /// The `alg` header value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
        }
    }

    fn from_alg(alg: &str) -> Result<Self, JoseError> {
        match alg {
            "ES256" => Ok(Self::Es256),
            _ => Err(JoseError::UnsupportedAlgorithm),
        }
    }
}

/// A JWS protected header that passed the profile's checks.
#[derive(Clone, Debug, PartialEq)]
pub struct JwsHeader {
    /// `alg`; always ES256 today.
    pub alg: SignatureAlgorithm,
    /// `typ`, when present.
    pub typ: Option<String>,
    /// `kid`, when present.
    pub kid: Option<String>,
    /// `cty`, when present.
    pub cty: Option<String>,
    /// Every member of the protected header, as parsed.
    pub raw: Object,
}

impl JwsHeader {
    fn parse(encoded: &str) -> Result<Self, JoseError> {
        let raw = json::parse_object(&b64::decode(encoded)?)?;
        // RFC 8725 §3.1: the algorithm is checked before anything else is believed.
        let alg = SignatureAlgorithm::from_alg(header::required_str(&raw, "alg")?)?;
        header::check_common(&raw)?;
        let HeaderParams { typ, kid, cty } = HeaderParams::read(&raw)?;
        Ok(Self {
            alg,
            typ,
            kid,
            cty,
            raw,
        })
    }
}

/// A compact JWS whose structure and header passed the profile's checks, signature not yet
/// verified.
#[derive(Clone, Debug)]
pub struct UnverifiedJws {
    header: JwsHeader,
    signing_input_len: usize,
    token: String,
    payload: Vec<u8>,
    signature: [u8; SIGNATURE_LEN],
}

impl UnverifiedJws {
    /// The protected header, for choosing the key (`kid`) and checking `typ`.
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    /// The payload, before any verification. Nothing in it may be trusted.
    pub fn unverified_payload(&self) -> &[u8] {
        &self.payload
    }

    /// The JWS Signing Input, `BASE64URL(header) '.' BASE64URL(payload)` as received
    /// (RFC 7515 §5.2 step 8): what the signature covers.
    pub fn signing_input(&self) -> &[u8] {
        let input = self.token.as_bytes();
        input.get(..self.signing_input_len).unwrap_or(input)
    }

    /// The signature, `R‖S` (RFC 7518 §3.4); both halves are known to be in `[1, n-1]`.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// Verifies the signature with `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<Verified, JoseError> {
        if !key.verify_es256(self.signing_input(), &self.signature) {
            return Err(JoseError::InvalidSignature);
        }
        Ok(Verified {
            header: self.header.clone(),
            payload: self.payload.clone(),
        })
    }

    /// The second half of verification when ECDSA runs elsewhere (the npm package uses
    /// WebCrypto): the caller verified [`signature`](Self::signature) over
    /// [`signing_input`](Self::signing_input) with ES256 under the key it chose, and passes
    /// the outcome; `false` is [`JoseError::InvalidSignature`].
    pub fn finish(self, signature_valid: bool) -> Result<Verified, JoseError> {
        if !signature_valid {
            return Err(JoseError::InvalidSignature);
        }
        Ok(Verified {
            header: self.header,
            payload: self.payload,
        })
    }
}

/// A JWS whose signature verified. Only [`UnverifiedJws::verify`] makes one.
#[derive(Clone, Debug)]
pub struct Verified {
    header: JwsHeader,
    payload: Vec<u8>,
}

impl Verified {
    /// The protected header.
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    /// The verified payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The header and payload, by value.
    pub fn into_parts(self) -> (JwsHeader, Vec<u8>) {
        (self.header, self.payload)
    }
}

/// Parses a compact JWS: size, three parts, strict base64url, the protected header (a JSON
/// object without duplicate members, `alg` ES256, no `crit`/`zip`/`b64: false`) and a 64-byte
/// signature. Verifies nothing.
pub fn decode(token: &str) -> Result<UnverifiedJws, JoseError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JoseError::TokenTooLarge);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JoseError::InvalidCompact);
    };
    let header = JwsHeader::parse(h)?;
    let payload = b64::decode(p)?;
    let signature = b64::decode(s)?;
    if signature.len() != SIGNATURE_LEN {
        return Err(JoseError::InvalidSignatureLength);
    }
    let signature: [u8; SIGNATURE_LEN] = signature
        .as_slice()
        .try_into()
        .map_err(|_| JoseError::InvalidSignatureLength)?;
    // Zero r or s, or either ≥ n, cannot verify (a range check: no curve arithmetic).
    if !scalar_in_range(&signature[..32]) || !scalar_in_range(&signature[32..]) {
        return Err(JoseError::InvalidSignature);
    }
    Ok(UnverifiedJws {
        header,
        signing_input_len: h.len() + 1 + p.len(),
        token: token.into(),
        payload,
        signature,
    })
}

/// Decodes and verifies a compact JWS with `key`.
pub fn verify(token: &str, key: &PublicKey) -> Result<Verified, JoseError> {
    decode(token)?.verify(key)
}

/// Signs `payload` as a compact ES256 JWS with protected header
/// `{"alg":"ES256","typ"?,"cty"?,"kid"?}` in that order.
///
/// Signatures are deterministic (RFC 6979), so the same inputs give the same token.
/// Fails with [`JoseError::TokenTooLarge`] rather than produce a token that [`decode`] refuses.
pub fn sign(header: &HeaderParams, payload: &[u8], key: &PrivateKey) -> Result<String, JoseError> {
    let input = signing_input(header, payload)?;
    let signature = key.sign_es256(input.as_bytes());
    input.finish(&signature)
}

/// The first half of [`sign`] when ECDSA runs elsewhere: the JWS Signing Input for protected
/// header `{"alg":"ES256","typ"?,"cty"?,"kid"?}` and `payload` (RFC 7515 §5.1 steps 1–6).
///
/// Fails with [`JoseError::TokenTooLarge`] when the finished token would be refused by
/// [`decode`]. Sign [`SigningInput::as_bytes`] with ES256, then call [`SigningInput::finish`].
pub fn signing_input(header: &HeaderParams, payload: &[u8]) -> Result<SigningInput, JoseError> {
    let mut w = ObjectWriter::new();
    w.string("alg", SignatureAlgorithm::Es256.as_str());
    header.write(&mut w);
    let mut input = b64::encode(w.finish().as_bytes());
    input.push('.');
    // Header, payload, '.', and 86 characters of signature: checked before any work.
    if input.len() + b64::encoded_len(payload.len()) + 1 + SIGNATURE_B64_LEN > MAX_TOKEN_LEN {
        return Err(JoseError::TokenTooLarge);
    }
    input.push_str(&b64::encode(payload));
    Ok(SigningInput(input))
}

/// Length of an ES256 signature in base64url.
const SIGNATURE_B64_LEN: usize = 86;

/// A JWS Signing Input, waiting for its signature: see [`signing_input`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningInput(String);

impl SigningInput {
    /// The bytes to sign with ES256.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The compact JWS: the signing input, `.`, the signature `R‖S` in base64url
    /// (RFC 7515 §5.1 steps 7–8). A signature of another length than 64 bytes (a DER one,
    /// say) is refused as [`JoseError::InvalidSignatureLength`].
    pub fn finish(self, signature: &[u8]) -> Result<String, JoseError> {
        if signature.len() != SIGNATURE_LEN {
            return Err(JoseError::InvalidSignatureLength);
        }
        let mut token = self.0;
        token.push('.');
        token.push_str(&b64::encode(signature));
        Ok(token)
    }
}

/// Whether a 32-byte big-endian integer is in `[1, n-1]`, `n` the order of P-256.
fn scalar_in_range(bytes: &[u8]) -> bool {
    bytes.len() == 32
        && bool::from(
            p256::NonZeroScalar::from_repr(p256::FieldBytes::clone_from_slice(bytes)).is_some(),
        )
}
