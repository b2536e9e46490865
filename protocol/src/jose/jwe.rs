//! JWE compact serialization with ECDH-ES on P-256 and A256GCM (RFC 7516 §7.1, RFC 7518 §4.6,
//! §5.3).
//!
//! Two key-management algorithms: `ECDH-ES+A256KW` (a random content-encryption key wrapped
//! with AES Key Wrap under the agreed key) and `ECDH-ES` (the agreed key is the
//! content-encryption key). Content encryption is `A256GCM` only. Decryption validates `epk`
//! before any arithmetic (RFC 8725 §3.4), refuses `zip` (§3.6) and unknown `crit`, and checks
//! every part's length. The shared secret, key-encryption key and content-encryption key are
//! zeroized after use.

use alloc::string::String;
use alloc::vec::Vec;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use aes_kw::KekAes256;
use p256::NonZeroScalar;
use p256::ecdh::SharedSecret;
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::header::{self, HeaderParams};
use super::json::{self, Object, ObjectWriter};
use super::jwk::{CRV_P256, KTY_EC, epk_from_value};
use super::kdf::concat_kdf;
use super::{JoseError, MAX_TOKEN_LEN, PrivateKey, PublicKey, b64};

/// Length of a wrapped 256-bit key: 32 bytes plus the 8-byte AES-KW integrity block.
pub const WRAPPED_KEY_LEN: usize = 40;
/// Length of an A256GCM initialization vector (RFC 7518 §5.3).
pub const IV_LEN: usize = 12;
/// Length of an A256GCM authentication tag (RFC 7518 §5.3).
pub const TAG_LEN: usize = 16;

/// Key-management algorithms this profile accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyManagement {
    /// `ECDH-ES`: direct key agreement; the encrypted key part is empty (RFC 7518 §4.6).
    EcdhEs,
    /// `ECDH-ES+A256KW`: key agreement, then AES-256 Key Wrap of a random CEK (RFC 7518 §4.6).
    EcdhEsA256Kw,
}

impl KeyManagement {
    /// The `alg` header value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::EcdhEs => "ECDH-ES",
            Self::EcdhEsA256Kw => "ECDH-ES+A256KW",
        }
    }

    fn from_alg(alg: &str) -> Result<Self, JoseError> {
        match alg {
            "ECDH-ES" => Ok(Self::EcdhEs),
            "ECDH-ES+A256KW" => Ok(Self::EcdhEsA256Kw),
            _ => Err(JoseError::UnsupportedAlgorithm),
        }
    }

    /// RFC 7518 §4.6.2 "AlgorithmID": `enc` for direct agreement, `alg` for key wrapping.
    fn algorithm_id(&self) -> &'static str {
        match self {
            Self::EcdhEs => ContentEncryption::A256Gcm.as_str(),
            Self::EcdhEsA256Kw => self.as_str(),
        }
    }

    fn encrypted_key_len(&self) -> usize {
        match self {
            Self::EcdhEs => 0,
            Self::EcdhEsA256Kw => WRAPPED_KEY_LEN,
        }
    }
}

/// Content-encryption algorithms this profile accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentEncryption {
    /// AES-256 in Galois/Counter Mode (RFC 7518 §5.3).
    A256Gcm,
}

impl ContentEncryption {
    /// The `enc` header value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::A256Gcm => "A256GCM",
        }
    }

    fn from_enc(enc: &str) -> Result<Self, JoseError> {
        match enc {
            "A256GCM" => Ok(Self::A256Gcm),
            _ => Err(JoseError::UnsupportedEncryption),
        }
    }
}

/// A JWE protected header that passed the profile's checks.
#[derive(Clone, Debug, PartialEq)]
pub struct JweHeader {
    /// `alg`.
    pub alg: KeyManagement,
    /// `enc`.
    pub enc: ContentEncryption,
    /// `epk`, the sender's ephemeral public key, validated.
    pub epk: PublicKey,
    /// `apu`, decoded, when present.
    pub apu: Option<Vec<u8>>,
    /// `apv`, decoded, when present.
    pub apv: Option<Vec<u8>>,
    /// `typ`, when present.
    pub typ: Option<String>,
    /// `kid`, when present: names the recipient's key.
    pub kid: Option<String>,
    /// `cty`, when present (`"JWT"` for a nested JWS).
    pub cty: Option<String>,
    /// Every member of the protected header, as parsed.
    pub raw: Object,
}

impl JweHeader {
    fn parse(encoded: &str) -> Result<Self, JoseError> {
        let raw = json::parse_object(&b64::decode(encoded)?)?;
        // RFC 8725 §3.1: algorithms first.
        let alg = KeyManagement::from_alg(header::required_str(&raw, "alg")?)?;
        let enc = ContentEncryption::from_enc(header::required_str(&raw, "enc")?)?;
        header::check_common(&raw)?;
        let epk = epk_from_value(raw.get("epk").ok_or(JoseError::MissingHeader("epk"))?)?;
        let party = |name: &'static str| -> Result<Option<Vec<u8>>, JoseError> {
            header::optional_str(&raw, name)?
                .map(|text| b64::decode(text).map_err(|_| JoseError::InvalidHeader(name)))
                .transpose()
        };
        let apu = party("apu")?;
        let apv = party("apv")?;
        let HeaderParams { typ, kid, cty } = HeaderParams::read(&raw)?;
        Ok(Self {
            alg,
            enc,
            epk,
            apu,
            apv,
            typ,
            kid,
            cty,
            raw,
        })
    }
}

/// A compact JWE whose structure and header passed the profile's checks, not yet decrypted.
#[derive(Clone, Debug)]
pub struct EncryptedJwe {
    header: JweHeader,
    /// The protected header exactly as received: the AAD (RFC 7516 §5.2 step 14).
    aad: String,
    encrypted_key: Vec<u8>,
    iv: [u8; IV_LEN],
    ciphertext: Vec<u8>,
    tag: [u8; TAG_LEN],
}

impl EncryptedJwe {
    /// The protected header, for choosing the key (`kid`) and checking `typ`/`cty`.
    pub fn header(&self) -> &JweHeader {
        &self.header
    }

    /// Decrypts with the recipient's private key.
    pub fn decrypt(&self, key: &PrivateKey) -> Result<Decrypted, JoseError> {
        let h = &self.header;
        let z = key.diffie_hellman(&h.epk);
        let cek = derive_cek(h.alg, &z, h.apu.as_deref(), h.apv.as_deref(), |kek| {
            let mut cek = Zeroizing::new([0u8; 32]);
            KekAes256::new(kek.into())
                .unwrap(&self.encrypted_key, cek.as_mut_slice())
                .map_err(|_| JoseError::DecryptionFailed)?;
            Ok(cek)
        })?;
        let mut plaintext = self.ciphertext.clone();
        Aes256Gcm::new(cek.as_ref().into())
            .decrypt_in_place_detached(
                Nonce::from_slice(&self.iv),
                self.aad.as_bytes(),
                &mut plaintext,
                Tag::from_slice(&self.tag),
            )
            .map_err(|_| JoseError::DecryptionFailed)?;
        Ok(Decrypted {
            header: self.header.clone(),
            plaintext,
        })
    }
}

/// The result of decryption.
///
/// Authenticated encryption proves only that the sender knew the recipient's public key, not
/// who the sender is: sign the plaintext (a nested JWS) when that matters.
#[derive(Clone, Debug)]
pub struct Decrypted {
    /// The protected header.
    pub header: JweHeader,
    /// The plaintext.
    pub plaintext: Vec<u8>,
}

/// For `ECDH-ES+A256KW`, derives the KEK and hands it to `wrap_or_unwrap`; for `ECDH-ES`, the
/// derived key is the CEK.
fn derive_cek(
    alg: KeyManagement,
    z: &SharedSecret,
    apu: Option<&[u8]>,
    apv: Option<&[u8]>,
    wrap_or_unwrap: impl FnOnce(&[u8; 32]) -> Result<Zeroizing<[u8; 32]>, JoseError>,
) -> Result<Zeroizing<[u8; 32]>, JoseError> {
    let mut derived = Zeroizing::new([0u8; 32]);
    concat_kdf(
        z.raw_secret_bytes(),
        alg.algorithm_id().as_bytes(),
        apu.unwrap_or_default(),
        apv.unwrap_or_default(),
        derived.as_mut_slice(),
    );
    match alg {
        KeyManagement::EcdhEs => Ok(derived),
        KeyManagement::EcdhEsA256Kw => wrap_or_unwrap(&derived),
    }
}

/// Parses a compact JWE: size, five parts, strict base64url, the protected header (`alg`
/// ECDH-ES or ECDH-ES+A256KW, `enc` A256GCM, a valid P-256 `epk`, no `zip`/`crit`) and the
/// lengths of the encrypted key, IV and tag. Decrypts nothing.
pub fn decode(token: &str) -> Result<EncryptedJwe, JoseError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JoseError::TokenTooLarge);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(k), Some(iv), Some(c), Some(t), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(JoseError::InvalidCompact);
    };
    let header = JweHeader::parse(h)?;
    let encrypted_key = b64::decode(k)?;
    if encrypted_key.len() != header.alg.encrypted_key_len() {
        return Err(JoseError::InvalidEncryptedKey);
    }
    let iv = b64::decode_array::<IV_LEN>(iv)?.ok_or(JoseError::InvalidIv)?;
    let ciphertext = b64::decode(c)?;
    let tag = b64::decode_array::<TAG_LEN>(t)?.ok_or(JoseError::InvalidTag)?;
    Ok(EncryptedJwe {
        header,
        aad: h.into(),
        encrypted_key,
        iv,
        ciphertext,
        tag,
    })
}

/// Decodes and decrypts a compact JWE with the recipient's private key.
pub fn decrypt(token: &str, key: &PrivateKey) -> Result<Decrypted, JoseError> {
    decode(token)?.decrypt(key)
}

/// Encrypts `plaintext` to `recipient` as a compact JWE with `enc` A256GCM.
///
/// The protected header is `{"alg","enc","epk","typ"?,"cty"?,"kid"?}` in that order. A fresh
/// ephemeral key, CEK (for key wrapping) and 96-bit IV are drawn from `rng`, so the output is
/// deterministic for a deterministic `rng`. Fails with [`JoseError::TokenTooLarge`] rather than
/// produce a token that [`decode`] refuses.
pub fn encrypt(
    plaintext: &[u8],
    recipient: &PublicKey,
    alg: KeyManagement,
    params: &HeaderParams,
    rng: &mut impl CryptoRngCore,
) -> Result<String, JoseError> {
    encrypt_with_party_info(plaintext, recipient, alg, params, &[], &[], rng)
}

/// [`encrypt`] with Agreement PartyUInfo and PartyVInfo (RFC 7518 §4.6.1.2–3): when non-empty
/// they are sent as `apu`/`apv` and bound into the key derivation.
pub fn encrypt_with_party_info(
    plaintext: &[u8],
    recipient: &PublicKey,
    alg: KeyManagement,
    params: &HeaderParams,
    apu: &[u8],
    apv: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<String, JoseError> {
    let ephemeral = Zeroizing::new(NonZeroScalar::random(rng));
    let epk = PublicKey::from(
        p256::PublicKey::from_affine(super::ec::mul_generator(&ephemeral).to_affine())
            .map_err(|_| JoseError::InvalidKey)?,
    )
    .to_jwk();

    let mut epk_json = ObjectWriter::new();
    epk_json
        .string("kty", KTY_EC)
        .string("crv", CRV_P256)
        .optional_string("x", epk.x.as_deref())
        .optional_string("y", epk.y.as_deref());
    let mut w = ObjectWriter::new();
    w.string("alg", alg.as_str())
        .string("enc", ContentEncryption::A256Gcm.as_str())
        .raw("epk", &epk_json.finish());
    if !apu.is_empty() {
        w.string("apu", &b64::encode(apu));
    }
    if !apv.is_empty() {
        w.string("apv", &b64::encode(apv));
    }
    params.write(&mut w);
    let protected = b64::encode(w.finish().as_bytes());

    let wrapped_len = b64::encoded_len(alg.encrypted_key_len());
    let total = protected.len()
        + 1
        + wrapped_len
        + 1
        + b64::encoded_len(IV_LEN)
        + 1
        + b64::encoded_len(plaintext.len())
        + 1
        + b64::encoded_len(TAG_LEN);
    if total > MAX_TOKEN_LEN {
        return Err(JoseError::TokenTooLarge);
    }

    let z = p256::ecdh::diffie_hellman(&*ephemeral, recipient.as_p256().as_affine());
    let mut encrypted_key = [0u8; WRAPPED_KEY_LEN];
    let cek = derive_cek(
        alg,
        &z,
        (!apu.is_empty()).then_some(apu),
        (!apv.is_empty()).then_some(apv),
        |kek| {
            let mut cek = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(cek.as_mut_slice());
            KekAes256::new(kek.into())
                .wrap(cek.as_slice(), &mut encrypted_key)
                .map_err(|_| JoseError::InvalidEncryptedKey)?;
            Ok(cek)
        },
    )?;
    let mut iv = [0u8; IV_LEN];
    rng.fill_bytes(&mut iv);
    let mut ciphertext = plaintext.to_vec();
    let tag = Aes256Gcm::new(cek.as_ref().into())
        .encrypt_in_place_detached(
            Nonce::from_slice(&iv),
            protected.as_bytes(),
            &mut ciphertext,
        )
        .map_err(|_| JoseError::TokenTooLarge)?;

    let mut token = String::with_capacity(total);
    token.push_str(&protected);
    token.push('.');
    token.push_str(&b64::encode(
        encrypted_key
            .get(..alg.encrypted_key_len())
            .unwrap_or_default(),
    ));
    token.push('.');
    token.push_str(&b64::encode(&iv));
    token.push('.');
    token.push_str(&b64::encode(&ciphertext));
    token.push('.');
    token.push_str(&b64::encode(&tag));
    Ok(token)
}
