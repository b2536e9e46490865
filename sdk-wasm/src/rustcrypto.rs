//! The fallback module's answers to the operations' requests: RustCrypto (p256, aes-kw,
//! aes-gcm) through `kazashi-protocol`'s primitives, randomness from
//! `crypto.getRandomValues`.

use kazashi_protocol::jose::PrivateKey;
use kazashi_protocol::jose::jwe;
use rand_core::OsRng;

use crate::error::{self, Failure};
use crate::ops::{Outcome, PrivateRef, Request};

/// Answers one request.
pub(crate) fn perform(request: Request<'_>) -> Result<Outcome, Failure> {
    Ok(match request {
        Request::Generate => {
            ensure_randomness()?;
            Outcome::Jwk(PrivateKey::generate(&mut OsRng).to_jwk())
        }
        Request::Check(key) => Outcome::Valid(checked(key).is_some()),
        Request::Sign { key, data } => {
            let key = checked(key).ok_or_else(crate::ops::out_of_order)?;
            Outcome::Signature(key.sign_es256(data).to_vec())
        }
        Request::Verify {
            key,
            data,
            signature,
        } => Outcome::Valid(key.key.verify_es256(data, signature)),
        Request::Agree { key, peer } => {
            let key = checked(key).ok_or_else(crate::ops::out_of_order)?;
            Outcome::SharedSecret(key.shared_secret(peer))
        }
        Request::AgreeEphemeral { peer } => {
            ensure_randomness()?;
            let ephemeral = PrivateKey::generate(&mut OsRng);
            Outcome::Ephemeral {
                epk: ephemeral.public_key(),
                z: ephemeral.shared_secret(&peer.key),
            }
        }
        Request::Encrypt {
            key,
            aad,
            plaintext,
        } => {
            ensure_randomness()?;
            Outcome::Encrypted(jwe::encrypt_content(key, aad, plaintext, &mut OsRng)?)
        }
        Request::Decrypt {
            key,
            encrypted_key,
            iv,
            aad,
            ciphertext,
            tag,
        } => Outcome::Plaintext(jwe::decrypt_content(
            key,
            encrypted_key,
            iv,
            aad,
            ciphertext,
            tag,
        )),
    })
}

/// The key, once `d·G` matched `x`/`y` (computed once per operation).
fn checked(key: &PrivateRef) -> Option<&PrivateKey> {
    if key.checked.get().is_none() {
        let _ = key.checked.set(key.unchecked.check().ok()?);
    }
    key.checked.get()
}

/// `OsRng` panics when the platform has no randomness; ask first and fail politely.
fn ensure_randomness() -> Result<(), Failure> {
    getrandom::getrandom(&mut [0u8; 1]).map_err(|_| {
        Failure::new(
            error::NO_RANDOMNESS,
            "this JavaScript runtime has no crypto.getRandomValues",
        )
    })
}
