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

    /// The Additional Authenticated Data: the protected header exactly as received
    /// (RFC 7516 §5.2 step 14).
    pub fn aad(&self) -> &[u8] {
        self.aad.as_bytes()
    }

    /// The JWE Encrypted Key: 40 bytes for `ECDH-ES+A256KW`, empty for `ECDH-ES`.
    pub fn encrypted_key(&self) -> &[u8] {
        &self.encrypted_key
    }

    /// The initialization vector.
    pub fn iv(&self) -> &[u8; IV_LEN] {
        &self.iv
    }

    /// The ciphertext.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// The authentication tag.
    pub fn tag(&self) -> &[u8; TAG_LEN] {
        &self.tag
    }

    /// Decrypts with the recipient's private key.
    pub fn decrypt(&self, key: &PrivateKey) -> Result<Decrypted, JoseError> {
        let z = key.shared_secret(&self.header.epk);
        let plaintext = decrypt_content(
            &self.agree(&z),
            &self.encrypted_key,
            &self.iv,
            self.aad(),
            &self.ciphertext,
            &self.tag,
        );
        Ok(Decrypted {
            header: self.header.clone(),
            plaintext: plaintext.ok_or(JoseError::DecryptionFailed)?,
        })
    }

    /// The key agreement's second step when ECDH runs elsewhere: from `z`, the x coordinate
    /// of the recipient's private key times the header's [`epk`](JweHeader::epk), the Concat
    /// KDF (RFC 7518 §4.6.2) with this header's `alg`, `apu` and `apv`.
    ///
    /// Then unwrap [`encrypted_key`](Self::encrypted_key) with AES-256 Key Wrap (for a
    /// [`AgreedKey::KeyEncryptionKey`]), decrypt [`ciphertext`](Self::ciphertext) and
    /// [`tag`](Self::tag) with A256GCM, [`iv`](Self::iv) and [`aad`](Self::aad), and pass
    /// the outcome to [`finish`](Self::finish).
    pub fn agree(&self, z: &[u8; 32]) -> AgreedKey {
        let h = &self.header;
        h.alg.agree(
            z,
            h.apu.as_deref().unwrap_or_default(),
            h.apv.as_deref().unwrap_or_default(),
        )
    }

    /// The end of decryption when AES runs elsewhere: `plaintext` is what authenticated
    /// decryption gave, or `None` when key unwrapping or the tag check failed
    /// ([`JoseError::DecryptionFailed`]). A plaintext whose length differs from the
    /// ciphertext's (A256GCM keeps lengths) is refused the same way.
    pub fn finish(self, plaintext: Option<Vec<u8>>) -> Result<Decrypted, JoseError> {
        match plaintext {
            Some(plaintext) if plaintext.len() == self.ciphertext.len() => Ok(Decrypted {
                header: self.header,
                plaintext,
            }),
            _ => Err(JoseError::DecryptionFailed),
        }
    }
}

/// The output of the key agreement (RFC 7518 §4.6.2): the Concat KDF over the ECDH shared
/// secret. Zeroized on drop.
#[derive(Debug)]
pub enum AgreedKey {
    /// `ECDH-ES+A256KW`: the key-encryption key, for AES-256 Key Wrap (RFC 3394) of the
    /// content-encryption key.
    KeyEncryptionKey(Zeroizing<[u8; 32]>),
    /// `ECDH-ES`: the content-encryption key itself.
    ContentEncryptionKey(Zeroizing<[u8; 32]>),
}

impl AgreedKey {
    /// The key's bytes, whichever it is.
    pub fn as_bytes(&self) -> &[u8; 32] {
        match self {
            Self::KeyEncryptionKey(key) | Self::ContentEncryptionKey(key) => key,
        }
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

impl KeyManagement {
    /// The Concat KDF of RFC 7518 §4.6.2 over `z`: a key-encryption key for key wrapping, the
    /// content-encryption key for direct agreement.
    fn agree(&self, z: &[u8; 32], apu: &[u8], apv: &[u8]) -> AgreedKey {
        let mut derived = Zeroizing::new([0u8; 32]);
        concat_kdf(
            z,
            self.algorithm_id().as_bytes(),
            apu,
            apv,
            derived.as_mut_slice(),
        );
        match self {
            Self::EcdhEs => AgreedKey::ContentEncryptionKey(derived),
            Self::EcdhEsA256Kw => AgreedKey::KeyEncryptionKey(derived),
        }
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
    );
    let prepared = prepare_encryption(plaintext.len(), alg, params, &epk, apu, apv)?;
    let z = p256::ecdh::diffie_hellman(&*ephemeral, recipient.as_p256().as_affine());
    let z: &[u8; 32] = z.raw_secret_bytes().as_ref();
    let content = encrypt_content(&prepared.agree(z), prepared.aad(), plaintext, rng)?;
    prepared.finish(
        &content.encrypted_key,
        &content.iv,
        &content.ciphertext,
        &content.tag,
    )
}

/// The content half of JWE encryption with RustCrypto: for a key-encryption key, a random
/// content-encryption key wrapped with AES-256 Key Wrap (RFC 3394); a random IV; A256GCM of
/// `plaintext` with `aad`. Randomness is drawn in that order.
pub fn encrypt_content(
    agreed: &AgreedKey,
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<EncryptedContent, JoseError> {
    let mut wrapped = [0u8; WRAPPED_KEY_LEN];
    let (cek, encrypted_key) = match agreed {
        AgreedKey::KeyEncryptionKey(kek) => {
            let mut cek = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(cek.as_mut_slice());
            KekAes256::new(kek.as_ref().into())
                .wrap(cek.as_slice(), &mut wrapped)
                .map_err(|_| JoseError::InvalidEncryptedKey)?;
            (cek, wrapped.to_vec())
        }
        AgreedKey::ContentEncryptionKey(cek) => (cek.clone(), Vec::new()),
    };
    let mut iv = [0u8; IV_LEN];
    rng.fill_bytes(&mut iv);
    let mut ciphertext = plaintext.to_vec();
    let tag = Aes256Gcm::new(cek.as_ref().into())
        .encrypt_in_place_detached(Nonce::from_slice(&iv), aad, &mut ciphertext)
        .map_err(|_| JoseError::TokenTooLarge)?;
    Ok(EncryptedContent {
        encrypted_key,
        iv,
        ciphertext,
        tag: tag.into(),
    })
}

/// What [`encrypt_content`] gives: the four last parts of a compact JWE.
#[derive(Clone, Debug)]
pub struct EncryptedContent {
    /// The wrapped content-encryption key (empty for direct agreement).
    pub encrypted_key: Vec<u8>,
    /// The initialization vector.
    pub iv: [u8; IV_LEN],
    /// The ciphertext.
    pub ciphertext: Vec<u8>,
    /// The authentication tag.
    pub tag: [u8; TAG_LEN],
}

/// The content half of JWE decryption with RustCrypto: unwraps `encrypted_key` with a
/// key-encryption key (AES-256 Key Wrap) or takes a content-encryption key as it is, then
/// A256GCM decryption. `None` when unwrapping or the tag check fails.
pub fn decrypt_content(
    agreed: &AgreedKey,
    encrypted_key: &[u8],
    iv: &[u8; IV_LEN],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8; TAG_LEN],
) -> Option<Vec<u8>> {
    let mut unwrapped = Zeroizing::new([0u8; 32]);
    let cek = match agreed {
        AgreedKey::KeyEncryptionKey(kek) => {
            KekAes256::new(kek.as_ref().into())
                .unwrap(encrypted_key, unwrapped.as_mut_slice())
                .ok()?;
            &unwrapped
        }
        AgreedKey::ContentEncryptionKey(cek) => cek,
    };
    let mut plaintext = ciphertext.to_vec();
    Aes256Gcm::new(cek.as_ref().into())
        .decrypt_in_place_detached(
            Nonce::from_slice(iv),
            aad,
            &mut plaintext,
            Tag::from_slice(tag),
        )
        .ok()?;
    Some(plaintext)
}

/// The first half of encryption when ECDH and AES run elsewhere: the protected header
/// `{"alg","enc","epk","apu"?,"apv"?,"typ"?,"cty"?,"kid"?}` for the sender's ephemeral public
/// key `epk` (the caller made the key pair), and the size check of the finished token.
///
/// Then: `z` = ECDH of the ephemeral private key with the recipient's public key, into
/// [`PreparedJwe::agree`]; for `ECDH-ES+A256KW`, a random 256-bit content-encryption key
/// wrapped with AES-256 Key Wrap under the key-encryption key; a random 96-bit IV; A256GCM
/// of the plaintext with [`PreparedJwe::aad`]; and [`PreparedJwe::finish`].
pub fn prepare_encryption(
    plaintext_len: usize,
    alg: KeyManagement,
    params: &HeaderParams,
    epk: &PublicKey,
    apu: &[u8],
    apv: &[u8],
) -> Result<PreparedJwe, JoseError> {
    let (x, y) = epk.coordinates_b64();
    let mut epk_json = ObjectWriter::new();
    epk_json
        .string("kty", KTY_EC)
        .string("crv", CRV_P256)
        .string("x", &x)
        .string("y", &y);
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

    let total = protected.len()
        + 1
        + b64::encoded_len(alg.encrypted_key_len())
        + 1
        + b64::encoded_len(IV_LEN)
        + 1
        + b64::encoded_len(plaintext_len)
        + 1
        + b64::encoded_len(TAG_LEN);
    if total > MAX_TOKEN_LEN {
        return Err(JoseError::TokenTooLarge);
    }
    Ok(PreparedJwe {
        alg,
        protected,
        apu: apu.to_vec(),
        apv: apv.to_vec(),
    })
}

/// A JWE protected header waiting for its key agreement and content encryption: see
/// [`prepare_encryption`].
#[derive(Clone, Debug)]
pub struct PreparedJwe {
    alg: KeyManagement,
    /// The protected header, base64url: the AAD.
    protected: String,
    apu: Vec<u8>,
    apv: Vec<u8>,
}

impl PreparedJwe {
    /// The key-management algorithm.
    pub fn alg(&self) -> KeyManagement {
        self.alg
    }

    /// The Additional Authenticated Data for A256GCM: the encoded protected header.
    pub fn aad(&self) -> &[u8] {
        self.protected.as_bytes()
    }

    /// The Concat KDF over `z`, the x coordinate of the ephemeral private key times the
    /// recipient's public key (RFC 7518 §4.6.2).
    pub fn agree(&self, z: &[u8; 32]) -> AgreedKey {
        self.alg.agree(z, &self.apu, &self.apv)
    }

    /// The compact JWE from the outputs of key wrapping and content encryption. The encrypted
    /// key must be 40 bytes for `ECDH-ES+A256KW` and empty for `ECDH-ES`
    /// ([`JoseError::InvalidEncryptedKey`]); a token over
    /// [`MAX_TOKEN_LEN`](super::MAX_TOKEN_LEN) is refused.
    pub fn finish(
        self,
        encrypted_key: &[u8],
        iv: &[u8; IV_LEN],
        ciphertext: &[u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<String, JoseError> {
        if encrypted_key.len() != self.alg.encrypted_key_len() {
            return Err(JoseError::InvalidEncryptedKey);
        }
        let total = self.protected.len()
            + 1
            + b64::encoded_len(encrypted_key.len())
            + 1
            + b64::encoded_len(IV_LEN)
            + 1
            + b64::encoded_len(ciphertext.len())
            + 1
            + b64::encoded_len(TAG_LEN);
        if total > MAX_TOKEN_LEN {
            return Err(JoseError::TokenTooLarge);
        }
        let mut token = self.protected;
        token.reserve(total - token.len());
        for part in [encrypted_key, iv, ciphertext, tag] {
            token.push('.');
            token.push_str(&b64::encode(part));
        }
        Ok(token)
    }
}
