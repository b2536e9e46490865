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

use p256::ecdsa::Signature;

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
    signature: Signature,
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

    /// Verifies the signature with `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<Verified, JoseError> {
        let signing_input = self
            .token
            .get(..self.signing_input_len)
            .ok_or(JoseError::InvalidCompact)?;
        if !super::ec::verify(key, signing_input.as_bytes(), &self.signature) {
            return Err(JoseError::InvalidSignature);
        }
        Ok(Verified {
            header: self.header.clone(),
            payload: self.payload.clone(),
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
    // Zero r or s, or either ≥ n, cannot verify.
    let signature = Signature::from_slice(&signature).map_err(|_| JoseError::InvalidSignature)?;
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
    let mut w = ObjectWriter::new();
    w.string("alg", SignatureAlgorithm::Es256.as_str());
    header.write(&mut w);
    let mut token = b64::encode(w.finish().as_bytes());
    token.push('.');
    // Header, payload, '.', and 86 characters of signature: checked before any work.
    if token.len() + b64::encoded_len(payload.len()) + 1 + 86 > MAX_TOKEN_LEN {
        return Err(JoseError::TokenTooLarge);
    }
    token.push_str(&b64::encode(payload));
    let signature = super::ec::sign(key.signing_key(), token.as_bytes());
    token.push('.');
    token.push_str(&b64::encode(&signature.to_bytes()));
    if token.len() > MAX_TOKEN_LEN {
        return Err(JoseError::TokenTooLarge);
    }
    Ok(token)
}
