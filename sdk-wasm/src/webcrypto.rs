//! The main module's side of the WebCrypto path: requests out as plain objects, answers back
//! in. The entry points' `performWebCrypto` (`sdk-wasm/js/api.js`) runs each request with
//! `crypto.subtle`; it moves bytes and decides nothing.
//!
//! Requests (`op`, then members; byte strings are `Uint8Array`s, public keys uncompressed
//! SEC1 points, private keys normalized JWKs named by a cache `id`):
//!
//! | `op` | members | answer |
//! |---|---|---|
//! | `generate` | | the private JWK of a fresh P-256 pair |
//! | `check` | `id`, `jwk` (JSON text) | whether `d` matches `x`/`y` |
//! | `sign` | `id`, `jwk` (JSON text), `data` | ES256 signature, 64 bytes `R‖S` |
//! | `verify` | `id`, `key`, `data`, `signature` | whether it verifies |
//! | `agree` | `id`, `jwk` (JSON text), `key` | ECDH of the private key with `key`: 32 bytes |
//! | `agreeEphemeral` | `id`, `key` | `{ epk, z }`: a fresh key's point, and its ECDH with `key` |
//! | `encrypt` | `key`, `wrap`, `aad`, `plaintext` | `{ encryptedKey, iv, ciphertext }` (tag appended) |
//! | `decrypt` | `key`, `wrap`, `encryptedKey`, `iv`, `aad`, `ciphertext` (tag appended) | plaintext, or `null` when unwrapping or the tag check failed |
//! | `done` | `value` | — |
//!
//! Every operation checks its private key before using it; a key WebCrypto once found to match
//! is not sent to `check` again (the answer is a function of the key). `key` of
//! `encrypt`/`decrypt` is the Concat KDF's output: a key-encryption key for AES-KW
//! when `wrap`, else the content-encryption key.

use js_sys::{Object, Uint8Array};
use kazashi_protocol::jose::PublicKey;
use kazashi_protocol::jose::jwe::{AgreedKey, EncryptedContent, TAG_LEN};
use wasm_bindgen::{JsCast, JsValue};
use zeroize::Zeroizing;

use crate::convert::{self, name_of, set};
use crate::error::{CRYPTO_FAILED, Failure};
use crate::ops::{Outcome, Request};

/// What the last request expects as its answer.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Expected {
    Start,
    Jwk,
    Bool,
    Signature,
    SharedSecret,
    Ephemeral,
    Encrypted,
    Plaintext,
}

impl Expected {
    pub(crate) fn of(request: &Request<'_>) -> Self {
        match request {
            Request::Generate => Self::Jwk,
            Request::Check(_) | Request::Verify { .. } => Self::Bool,
            Request::Sign { .. } => Self::Signature,
            Request::Agree { .. } => Self::SharedSecret,
            Request::AgreeEphemeral { .. } => Self::Ephemeral,
            Request::Encrypt { .. } => Self::Encrypted,
            Request::Decrypt { .. } => Self::Plaintext,
        }
    }
}

fn bad_answer(what: &str) -> Failure {
    Failure::new(
        CRYPTO_FAILED,
        format!("WebCrypto gave an unexpected {what}"),
    )
}

/// The answer as the outcome the request expects.
pub(crate) fn outcome(expected: Expected, answer: &JsValue) -> Result<Outcome, Failure> {
    Ok(match expected {
        Expected::Start => Outcome::Start,
        Expected::Jwk => {
            Outcome::Jwk(convert::jwk(answer).map_err(|_| bad_answer("key from generateKey"))?)
        }
        Expected::Bool => Outcome::Valid(answer.as_bool().ok_or_else(|| bad_answer("answer"))?),
        Expected::Signature => Outcome::Signature(bytes(answer, "signature")?),
        Expected::SharedSecret => Outcome::SharedSecret(secret(answer, "shared secret")?),
        Expected::Ephemeral => {
            let answer = convert::object(answer, "answer").map_err(|_| bad_answer("key pair"))?;
            let epk = bytes(&convert::member(answer, "epk")?, "ephemeral key")?;
            Outcome::Ephemeral {
                epk: PublicKey::from_sec1_bytes(&epk).map_err(|_| bad_answer("ephemeral key"))?,
                z: secret(&convert::member(answer, "z")?, "shared secret")?,
            }
        }
        Expected::Encrypted => {
            let answer = convert::object(answer, "answer").map_err(|_| bad_answer("ciphertext"))?;
            let encrypted_key = bytes(&convert::member(answer, "encryptedKey")?, "wrapped key")?;
            let iv = bytes(&convert::member(answer, "iv")?, "IV")?
                .try_into()
                .map_err(|_| bad_answer("IV"))?;
            let mut ciphertext = bytes(&convert::member(answer, "ciphertext")?, "ciphertext")?;
            // WebCrypto appends the tag to the ciphertext.
            let at = ciphertext
                .len()
                .checked_sub(TAG_LEN)
                .ok_or_else(|| bad_answer("ciphertext"))?;
            let tag = ciphertext
                .split_off(at)
                .try_into()
                .map_err(|_| bad_answer("tag"))?;
            Outcome::Encrypted(EncryptedContent {
                encrypted_key,
                iv,
                ciphertext,
                tag,
            })
        }
        Expected::Plaintext => {
            if answer.is_null() {
                Outcome::Plaintext(None)
            } else {
                Outcome::Plaintext(Some(bytes(answer, "plaintext")?))
            }
        }
    })
}

fn bytes(value: &JsValue, what: &str) -> Result<Vec<u8>, Failure> {
    value
        .dyn_ref::<Uint8Array>()
        .map(Uint8Array::to_vec)
        .ok_or_else(|| bad_answer(what))
}

fn secret(value: &JsValue, what: &str) -> Result<Zeroizing<[u8; 32]>, Failure> {
    let array = value
        .dyn_ref::<Uint8Array>()
        .filter(|a| a.length() == 32)
        .ok_or_else(|| bad_answer(what))?;
    let mut out = Zeroizing::new([0u8; 32]);
    array.copy_to(out.as_mut_slice());
    Ok(out)
}

/// The request as a plain object.
pub(crate) fn request(request: &Request<'_>) -> Result<JsValue, Failure> {
    let out = Object::new();
    match request {
        Request::Generate => set(&out, "op", &name_of("generate"))?,
        Request::Check(key) => {
            set(&out, "op", &name_of("check"))?;
            set(&out, "id", &key.id.as_str().into())?;
            // As text: JavaScript parses it only when the key is not in its cache yet.
            set(&out, "jwk", &key.jwk.as_str().into())?;
        }
        Request::Sign { key, data } => {
            set(&out, "op", &name_of("sign"))?;
            set(&out, "id", &key.id.as_str().into())?;
            set(&out, "jwk", &key.jwk.as_str().into())?;
            set(&out, "data", &Uint8Array::from(*data))?;
        }
        Request::Verify {
            key,
            data,
            signature,
        } => {
            set(&out, "op", &name_of("verify"))?;
            set(&out, "id", &key.id)?;
            set(&out, "key", &point(&key.key))?;
            set(&out, "data", &Uint8Array::from(*data))?;
            set(&out, "signature", &Uint8Array::from(signature.as_slice()))?;
        }
        Request::Agree { key, peer } => {
            set(&out, "op", &name_of("agree"))?;
            set(&out, "id", &key.id.as_str().into())?;
            set(&out, "jwk", &key.jwk.as_str().into())?;
            set(&out, "key", &point(peer))?;
        }
        Request::AgreeEphemeral { peer } => {
            set(&out, "op", &name_of("agreeEphemeral"))?;
            set(&out, "id", &peer.id)?;
            set(&out, "key", &point(&peer.key))?;
        }
        Request::Encrypt {
            key,
            aad,
            plaintext,
        } => {
            set(&out, "op", &name_of("encrypt"))?;
            agreed(&out, key)?;
            set(&out, "aad", &Uint8Array::from(*aad))?;
            set(&out, "plaintext", &Uint8Array::from(*plaintext))?;
        }
        Request::Decrypt {
            key,
            encrypted_key,
            iv,
            aad,
            ciphertext,
            tag,
        } => {
            set(&out, "op", &name_of("decrypt"))?;
            agreed(&out, key)?;
            set(&out, "encryptedKey", &Uint8Array::from(*encrypted_key))?;
            set(&out, "iv", &Uint8Array::from(iv.as_slice()))?;
            set(&out, "aad", &Uint8Array::from(*aad))?;
            // WebCrypto takes the tag appended to the ciphertext.
            let joined = Uint8Array::new_with_length((ciphertext.len() + TAG_LEN) as u32);
            joined
                .subarray(0, ciphertext.len() as u32)
                .copy_from(ciphertext);
            joined
                .subarray(ciphertext.len() as u32, joined.length())
                .copy_from(tag.as_slice());
            set(&out, "ciphertext", &joined)?;
        }
    }
    Ok(out.into())
}

fn point(key: &PublicKey) -> Uint8Array {
    Uint8Array::from(key.to_sec1_bytes().as_slice())
}

fn agreed(out: &Object, key: &AgreedKey) -> Result<(), Failure> {
    // The JavaScript side zeroes its copy once the key is imported.
    set(out, "key", &Uint8Array::from(key.as_bytes().as_slice()))?;
    set(
        out,
        "wrap",
        &matches!(key, AgreedKey::KeyEncryptionKey(_)).into(),
    )
}
