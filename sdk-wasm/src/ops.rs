//! The package's operations as state machines over `kazashi-protocol`'s sans-IO steps.
//!
//! Each operation ([`SignCommand`], [`SealCommand`], [`VerifyResult`], [`CompactVerify`],
//! [`CompactDecrypt`], [`GenerateKeyPair`]) parses and validates its arguments when it is
//! made, then alternates: the protocol's next step, and a [`Request`] for one cryptographic
//! primitive (ECDSA, ECDH, AES), answered by an [`Outcome`]. Every decision — header rules,
//! key validation, claim checks, error codes — is taken here or in the protocol; whoever
//! answers the requests (WebCrypto in JavaScript, or RustCrypto in the fallback module) only
//! computes.

use core::cell::OnceCell;
use std::rc::Rc;

use js_sys::{Object, Uint8Array};
use kazashi_protocol::envelope::{
    self, CommandClaims, DEFAULT_LEEWAY, EnvelopeError, ResultChecks, Sealed,
};
use kazashi_protocol::jose::jwe::{self, AgreedKey, EncryptedContent, IV_LEN, TAG_LEN};
use kazashi_protocol::jose::jws::{self, SIGNATURE_LEN, SigningInput, UnverifiedJws};
use kazashi_protocol::jose::{Jwk, JwkSet, PrivateKey, PublicKey, UncheckedPrivateKey};
use wasm_bindgen::JsValue;
use zeroize::Zeroizing;

use crate::convert::{self, object};
use crate::error::{CRYPTO_FAILED, Failure};

/// A private key from a JWK whose members passed the protocol's checks; whether `d` matches
/// `x`/`y` is the first [`Request::Check`] of every operation that uses it. Shared with the
/// key cache of `convert`, so that a key given again is not validated again.
#[derive(Clone)]
pub(crate) struct PrivateRef(Rc<PrivateEntry>);

pub(crate) struct PrivateEntry {
    pub(crate) unchecked: UncheckedPrivateKey,
    /// Names the key in the JavaScript key cache: SHA-256 of its normalized JWK, base64url.
    #[cfg(not(feature = "rustcrypto"))]
    pub(crate) id: String,
    /// The normalized JWK (`kty`, `crv`, `x`, `y`, `d`), for WebCrypto's import.
    #[cfg(not(feature = "rustcrypto"))]
    pub(crate) jwk: Zeroizing<String>,
    /// The fallback module's checked key, once `d·G` was computed.
    #[cfg_attr(not(feature = "rustcrypto"), allow(dead_code))]
    pub(crate) checked: OnceCell<PrivateKey>,
    /// Whether WebCrypto already answered this key's `check` with a match: the answer is a
    /// function of the key, so it is not asked again.
    #[cfg(not(feature = "rustcrypto"))]
    pub(crate) confirmed: core::cell::Cell<bool>,
}

impl core::ops::Deref for PrivateRef {
    type Target = PrivateEntry;

    fn deref(&self) -> &PrivateEntry {
        &self.0
    }
}

impl PrivateRef {
    pub(crate) fn new(unchecked: UncheckedPrivateKey) -> Self {
        #[cfg(not(feature = "rustcrypto"))]
        let jwk = Zeroizing::new(unchecked.to_jwk().to_json());
        Self(Rc::new(PrivateEntry {
            #[cfg(not(feature = "rustcrypto"))]
            id: {
                use sha2::Digest;
                kazashi_protocol::jose::b64::encode(&sha2::Sha256::digest(jwk.as_bytes()))
            },
            #[cfg(not(feature = "rustcrypto"))]
            jwk,
            unchecked,
            checked: OnceCell::new(),
            #[cfg(not(feature = "rustcrypto"))]
            confirmed: core::cell::Cell::new(false),
        }))
    }

    pub(crate) fn public_key(&self) -> &PublicKey {
        self.unchecked.public_key()
    }
}

/// A validated public key, named in the JavaScript key cache by its RFC 7638 thumbprint (kept
/// as a JavaScript string: it goes into every request that uses the key).
#[derive(Clone)]
pub(crate) struct PublicRef {
    pub(crate) key: PublicKey,
    #[cfg(not(feature = "rustcrypto"))]
    pub(crate) id: wasm_bindgen::JsValue,
}

impl PublicRef {
    pub(crate) fn new(key: PublicKey) -> Self {
        Self {
            #[cfg(not(feature = "rustcrypto"))]
            id: key.thumbprint().into(),
            key,
        }
    }
}

/// One cryptographic primitive an operation needs next.
pub(crate) enum Request<'a> {
    /// A fresh P-256 key pair; answered by [`Outcome::Jwk`], its private JWK.
    Generate,
    /// Whether the key's `d` matches its `x`/`y`; answered by [`Outcome::Valid`].
    Check(&'a PrivateRef),
    /// ES256 over `data`; answered by [`Outcome::Signature`] (`R‖S`).
    Sign { key: &'a PrivateRef, data: &'a [u8] },
    /// Whether `signature` (`R‖S`) is a valid ES256 signature of `data`; [`Outcome::Valid`].
    Verify {
        key: &'a PublicRef,
        data: &'a [u8],
        signature: &'a [u8; SIGNATURE_LEN],
    },
    /// ECDH of `key` with `peer`; answered by [`Outcome::SharedSecret`], the x coordinate.
    Agree {
        key: &'a PrivateRef,
        peer: &'a PublicKey,
    },
    /// ECDH of a fresh ephemeral key with `peer`; answered by [`Outcome::Ephemeral`].
    AgreeEphemeral { peer: &'a PublicRef },
    /// A256GCM of `plaintext` with `aad` under a random IV and either a random
    /// content-encryption key wrapped (AES-256 Key Wrap) under `key`, or `key` itself;
    /// answered by [`Outcome::Encrypted`].
    Encrypt {
        key: &'a AgreedKey,
        aad: &'a [u8],
        plaintext: &'a [u8],
    },
    /// Unwrapping `encrypted_key` under `key` (or taking `key` as the content-encryption
    /// key), then A256GCM decryption; answered by [`Outcome::Plaintext`].
    Decrypt {
        key: &'a AgreedKey,
        encrypted_key: &'a [u8],
        iv: &'a [u8; IV_LEN],
        aad: &'a [u8],
        ciphertext: &'a [u8],
        tag: &'a [u8; TAG_LEN],
    },
}

/// The answer to a [`Request`].
pub(crate) enum Outcome {
    /// The first call, before any request.
    Start,
    Jwk(Jwk),
    Valid(bool),
    Signature(Vec<u8>),
    SharedSecret(Zeroizing<[u8; 32]>),
    Ephemeral {
        epk: PublicKey,
        z: Zeroizing<[u8; 32]>,
    },
    Encrypted(EncryptedContent),
    /// `None`: unwrapping or the tag check failed.
    Plaintext(Option<Vec<u8>>),
}

/// What an operation does next.
pub(crate) enum Step<'a> {
    Need(Request<'a>),
    Done(JsValue),
}

/// An operation: call [`next`](Machine::next) with [`Outcome::Start`], then with the answer
/// to each request, until [`Step::Done`].
pub(crate) trait Machine {
    fn next(&mut self, outcome: Outcome) -> Result<Step<'_>, Failure>;
}

/// An answer that does not fit the request: a bug of the answering side.
pub(crate) fn out_of_order() -> Failure {
    Failure::new(
        CRYPTO_FAILED,
        "the cryptography provider answered out of order",
    )
}

// --- generateKeyPair -------------------------------------------------------------------------

/// `generateKeyPair()`: `{ privateJwk, publicJwk }`, `kid` the RFC 7638 thumbprint.
pub(crate) struct GenerateKeyPair;

impl Machine for GenerateKeyPair {
    fn next(&mut self, outcome: Outcome) -> Result<Step<'_>, Failure> {
        match outcome {
            Outcome::Start => Ok(Step::Need(Request::Generate)),
            Outcome::Jwk(jwk) => {
                // Made by the provider: checked like any key, d·G excepted.
                let key = UncheckedPrivateKey::from_jwk(&jwk)
                    .map_err(|e| Failure::new(CRYPTO_FAILED, format!("generated key: {e}")))?;
                let public = key.public_key().to_jwk();
                let mut private = public.clone();
                private.d = key.to_jwk().d;
                let pair = Object::new();
                convert::set(&pair, "privateJwk", &convert::parse(&private.to_json())?)?;
                convert::set(&pair, "publicJwk", &convert::parse(&public.to_json())?)?;
                Ok(Step::Done(pair.into()))
            }
            _ => Err(out_of_order()),
        }
    }
}

// --- signCommand -----------------------------------------------------------------------------

/// `signCommand(claims, privateJwk)`: a compact JWS.
pub(crate) struct SignCommand {
    claims: CommandClaims,
    key: PrivateRef,
    input: Option<SigningInput>,
}

impl SignCommand {
    pub(crate) fn new(claims: &JsValue, private_jwk: &JsValue) -> Result<Self, Failure> {
        Ok(Self {
            claims: convert::command_claims(claims)?,
            key: convert::private_key(private_jwk)?,
            input: None,
        })
    }
}

impl Machine for SignCommand {
    fn next(&mut self, outcome: Outcome) -> Result<Step<'_>, Failure> {
        match (outcome, self.input.is_some()) {
            (Outcome::Start, false) => Ok(Step::Need(Request::Check(&self.key))),
            (Outcome::Valid(matches), false) => {
                self.key.unchecked.confirm(matches)?;
                let input = self.input.insert(envelope::command_signing_input(
                    &self.claims,
                    self.key.public_key(),
                )?);
                Ok(Step::Need(Request::Sign {
                    key: &self.key,
                    data: input.as_bytes(),
                }))
            }
            (Outcome::Signature(signature), true) => {
                let input = self.input.take().ok_or_else(out_of_order)?;
                let token = input.finish(&signature)?;
                Ok(Step::Done(JsValue::from_str(&token)))
            }
            _ => Err(out_of_order()),
        }
    }
}

// --- sealCommand -----------------------------------------------------------------------------

/// `sealCommand(claims, { providerKey, serverKey })`: a compact JWE around the signed JWS.
pub(crate) struct SealCommand {
    claims: CommandClaims,
    provider: PrivateRef,
    server: PublicRef,
    stage: SealStage,
}

enum SealStage {
    Start,
    Checking,
    Signing(SigningInput),
    Agreeing(String),
    Encrypting {
        signed: String,
        prepared: jwe::PreparedJwe,
        key: AgreedKey,
    },
    Done,
}

impl SealCommand {
    pub(crate) fn new(claims: &JsValue, options: &JsValue) -> Result<Self, Failure> {
        let claims = convert::command_claims(claims)?;
        let options = object(options, "options")?;
        let provider = convert::private_key(&convert::required(options, "providerKey")?)?;
        let server = convert::public_key(&convert::required(options, "serverKey")?)?;
        Ok(Self {
            claims,
            provider,
            server,
            stage: SealStage::Start,
        })
    }
}

impl Machine for SealCommand {
    fn next(&mut self, outcome: Outcome) -> Result<Step<'_>, Failure> {
        let stage = core::mem::replace(&mut self.stage, SealStage::Done);
        match (stage, outcome) {
            (SealStage::Start, Outcome::Start) => {
                self.stage = SealStage::Checking;
                Ok(Step::Need(Request::Check(&self.provider)))
            }
            (SealStage::Checking, Outcome::Valid(matches)) => {
                self.provider.unchecked.confirm(matches)?;
                let input =
                    envelope::command_signing_input(&self.claims, self.provider.public_key())?;
                self.stage = SealStage::Signing(input);
                let SealStage::Signing(input) = &self.stage else {
                    return Err(out_of_order());
                };
                Ok(Step::Need(Request::Sign {
                    key: &self.provider,
                    data: input.as_bytes(),
                }))
            }
            (SealStage::Signing(input), Outcome::Signature(signature)) => {
                let signed = input.finish(&signature)?;
                self.stage = SealStage::Agreeing(signed);
                Ok(Step::Need(Request::AgreeEphemeral { peer: &self.server }))
            }
            (SealStage::Agreeing(signed), Outcome::Ephemeral { epk, z }) => {
                let prepared = envelope::prepare_seal(&signed, &self.server.key, &epk)?;
                let key = prepared.agree(&z);
                self.stage = SealStage::Encrypting {
                    signed,
                    prepared,
                    key,
                };
                let SealStage::Encrypting {
                    signed,
                    prepared,
                    key,
                } = &self.stage
                else {
                    return Err(out_of_order());
                };
                Ok(Step::Need(Request::Encrypt {
                    key,
                    aad: prepared.aad(),
                    plaintext: signed.as_bytes(),
                }))
            }
            (SealStage::Encrypting { prepared, .. }, Outcome::Encrypted(content)) => {
                let token = prepared.finish(
                    &content.encrypted_key,
                    &content.iv,
                    &content.ciphertext,
                    &content.tag,
                )?;
                Ok(Step::Done(JsValue::from_str(&token)))
            }
            _ => Err(out_of_order()),
        }
    }
}

// --- verifyResult ----------------------------------------------------------------------------

/// `verifyResult(token, options)`: the result's claims.
pub(crate) struct VerifyResult {
    token: String,
    server_keys: JwkSet,
    issuer: String,
    audience: String,
    command: Option<String>,
    provider: Option<PrivateRef>,
    now: u64,
    leeway: u64,
    max_age: Option<u64>,
    stage: VerifyStage,
}

enum VerifyStage {
    Start,
    Checking,
    Agreeing(Sealed),
    Decrypting(Sealed, AgreedKey),
    Verifying(UnverifiedJws, PublicRef),
    Done,
}

impl VerifyResult {
    pub(crate) fn new(token: &JsValue, options: &JsValue) -> Result<Self, Failure> {
        let token = convert::token(token)?;
        let options = object(options, "options")?;
        let server_keys = convert::jwk_set(&convert::required(options, "serverKeys")?)?;
        let issuer = convert::string(options, "issuer")?;
        let audience = convert::string(options, "audience")?;
        let command = convert::optional_string(options, "command")?;
        let provider = convert::optional(options, "providerKey")?
            .map(|jwk| convert::private_key(&jwk))
            .transpose()?;
        let now = match convert::optional_seconds(options, "now")? {
            Some(now) => now,
            // Date.now() is milliseconds since the epoch, always finite and positive.
            None => (js_sys::Date::now() / 1000.0).floor() as u64,
        };
        Ok(Self {
            token,
            server_keys,
            issuer,
            audience,
            command,
            provider,
            now,
            leeway: convert::optional_seconds(options, "leeway")?.unwrap_or(DEFAULT_LEEWAY),
            max_age: convert::optional_seconds(options, "maxAge")?,
            stage: VerifyStage::Start,
        })
    }

    /// The token itself, or what a seal held: its signature is next.
    fn signature_of(&mut self, signed: &str) -> Result<Step<'_>, Failure> {
        let (unverified, jwk) = envelope::result_signer(signed, &self.server_keys)?;
        let key = convert::public_key_of(jwk)?;
        self.stage = VerifyStage::Verifying(unverified, key);
        let VerifyStage::Verifying(unverified, key) = &self.stage else {
            return Err(out_of_order());
        };
        Ok(Step::Need(Request::Verify {
            key,
            data: unverified.signing_input(),
            signature: unverified.signature(),
        }))
    }

    fn begin(&mut self) -> Result<Step<'_>, Failure> {
        if !envelope::is_sealed(&self.token) {
            let token = core::mem::take(&mut self.token);
            return self.signature_of(&token);
        }
        let Some(provider) = &self.provider else {
            return Err(EnvelopeError::SealedNeedsKey.into());
        };
        self.stage = VerifyStage::Agreeing(envelope::open_seal(&self.token)?);
        let VerifyStage::Agreeing(sealed) = &self.stage else {
            return Err(out_of_order());
        };
        Ok(Step::Need(Request::Agree {
            key: provider,
            peer: &sealed.jwe.header().epk,
        }))
    }
}

impl Machine for VerifyResult {
    fn next(&mut self, outcome: Outcome) -> Result<Step<'_>, Failure> {
        let stage = core::mem::replace(&mut self.stage, VerifyStage::Done);
        match (stage, outcome) {
            (VerifyStage::Start, Outcome::Start) => {
                if self.provider.is_none() {
                    return self.begin();
                }
                self.stage = VerifyStage::Checking;
                let Some(provider) = &self.provider else {
                    return Err(out_of_order());
                };
                Ok(Step::Need(Request::Check(provider)))
            }
            (VerifyStage::Checking, Outcome::Valid(matches)) => {
                if let Some(provider) = &self.provider {
                    provider.unchecked.confirm(matches)?;
                }
                self.begin()
            }
            (VerifyStage::Agreeing(sealed), Outcome::SharedSecret(z)) => {
                let key = sealed.jwe.agree(&z);
                self.stage = VerifyStage::Decrypting(sealed, key);
                let VerifyStage::Decrypting(sealed, key) = &self.stage else {
                    return Err(out_of_order());
                };
                Ok(decrypt_request(&sealed.jwe, key))
            }
            (VerifyStage::Decrypting(sealed, _), Outcome::Plaintext(plaintext)) => {
                let signed = envelope::unsealed(sealed.jwe.finish(plaintext)?)?;
                self.signature_of(&signed)
            }
            (VerifyStage::Verifying(unverified, _), Outcome::Valid(valid)) => {
                let verified = unverified.finish(valid)?;
                let checks = ResultChecks {
                    issuer: &self.issuer,
                    audience: &self.audience,
                    command: self.command.as_deref(),
                    now: self.now,
                    leeway: self.leeway,
                    max_age: self.max_age,
                };
                let claims = envelope::check_result(&verified, &checks)?;
                Ok(Step::Done(convert::parse(&claims.to_json())?))
            }
            _ => Err(out_of_order()),
        }
    }
}

fn decrypt_request<'a>(jwe: &'a jwe::EncryptedJwe, key: &'a AgreedKey) -> Step<'a> {
    Step::Need(Request::Decrypt {
        key,
        encrypted_key: jwe.encrypted_key(),
        iv: jwe.iv(),
        aad: jwe.aad(),
        ciphertext: jwe.ciphertext(),
        tag: jwe.tag(),
    })
}

// --- compactVerify ---------------------------------------------------------------------------

/// `compactVerify(token, publicJwk)`: `{ payload, protectedHeader }`.
pub(crate) struct CompactVerify {
    token: String,
    key: PublicRef,
    unverified: Option<UnverifiedJws>,
}

impl CompactVerify {
    pub(crate) fn new(token: &JsValue, public_jwk: &JsValue) -> Result<Self, Failure> {
        let token = convert::token(token)?;
        let key = convert::public_key(public_jwk)?;
        Ok(Self {
            token,
            key,
            unverified: None,
        })
    }
}

impl Machine for CompactVerify {
    fn next(&mut self, outcome: Outcome) -> Result<Step<'_>, Failure> {
        match (outcome, self.unverified.take()) {
            (Outcome::Start, None) => {
                let unverified = self.unverified.insert(jws::decode(&self.token)?);
                Ok(Step::Need(Request::Verify {
                    key: &self.key,
                    data: unverified.signing_input(),
                    signature: unverified.signature(),
                }))
            }
            (Outcome::Valid(valid), Some(unverified)) => {
                let (header, payload) = unverified.finish(valid)?.into_parts();
                let out = Object::new();
                convert::set(&out, "payload", &Uint8Array::from(payload.as_slice()))?;
                convert::set(
                    &out,
                    "protectedHeader",
                    &convert::object_to_js(&header.raw)?,
                )?;
                Ok(Step::Done(out.into()))
            }
            _ => Err(out_of_order()),
        }
    }
}

// --- compactDecrypt --------------------------------------------------------------------------

/// `compactDecrypt(token, privateJwk)`: `{ plaintext, protectedHeader }`.
pub(crate) struct CompactDecrypt {
    token: String,
    key: PrivateRef,
    stage: DecryptStage,
}

enum DecryptStage {
    Start,
    Checking,
    Agreeing(jwe::EncryptedJwe),
    Decrypting(jwe::EncryptedJwe, AgreedKey),
    Done,
}

impl CompactDecrypt {
    pub(crate) fn new(token: &JsValue, private_jwk: &JsValue) -> Result<Self, Failure> {
        let token = convert::token(token)?;
        let key = convert::private_key(private_jwk)?;
        Ok(Self {
            token,
            key,
            stage: DecryptStage::Start,
        })
    }
}

impl Machine for CompactDecrypt {
    fn next(&mut self, outcome: Outcome) -> Result<Step<'_>, Failure> {
        let stage = core::mem::replace(&mut self.stage, DecryptStage::Done);
        match (stage, outcome) {
            (DecryptStage::Start, Outcome::Start) => {
                self.stage = DecryptStage::Checking;
                Ok(Step::Need(Request::Check(&self.key)))
            }
            (DecryptStage::Checking, Outcome::Valid(matches)) => {
                self.key.unchecked.confirm(matches)?;
                self.stage = DecryptStage::Agreeing(jwe::decode(&self.token)?);
                let DecryptStage::Agreeing(jwe) = &self.stage else {
                    return Err(out_of_order());
                };
                Ok(Step::Need(Request::Agree {
                    key: &self.key,
                    peer: &jwe.header().epk,
                }))
            }
            (DecryptStage::Agreeing(jwe), Outcome::SharedSecret(z)) => {
                let key = jwe.agree(&z);
                self.stage = DecryptStage::Decrypting(jwe, key);
                let DecryptStage::Decrypting(jwe, key) = &self.stage else {
                    return Err(out_of_order());
                };
                Ok(decrypt_request(jwe, key))
            }
            (DecryptStage::Decrypting(jwe, _), Outcome::Plaintext(plaintext)) => {
                let opened = jwe.finish(plaintext)?;
                let out = Object::new();
                convert::set(
                    &out,
                    "plaintext",
                    &Uint8Array::from(opened.plaintext.as_slice()),
                )?;
                convert::set(
                    &out,
                    "protectedHeader",
                    &convert::object_to_js(&opened.header.raw)?,
                )?;
                Ok(Step::Done(out.into()))
            }
            _ => Err(out_of_order()),
        }
    }
}
