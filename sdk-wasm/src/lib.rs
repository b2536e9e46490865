//! The wasm side of the npm package `kazashi`: thin wasm-bindgen wrappers over
//! `kazashi-protocol`'s JOSE and envelope code. No protocol logic lives here.
//!
//! JavaScript objects go in and come out (serde-wasm-bindgen), never JSON text. Every failure
//! is an `Error` named `KazashiError` with the stable `code` of the protocol's
//! [`EnvelopeError::code`](kazashi_protocol::envelope::EnvelopeError::code) or
//! [`JoseError::code`](kazashi_protocol::jose::JoseError::code), or `invalid_argument` for a
//! value of the wrong JavaScript type. Nothing here unwraps or indexes on input: a wasm trap is
//! a bug.
//!
//! Every operation that needs cryptography returns an [`Operation`]: a state machine over the
//! protocol's sans-IO steps (`ops`). Built without features (the package's main module),
//! [`Operation::resume`] hands each ECDSA, ECDH or AES step to JavaScript as a request object,
//! which the entry points answer with WebCrypto (`webcrypto`); built with the `rustcrypto`
//! feature (the fallback module, for runtimes without WebCrypto), it answers them itself
//! (`rustcrypto`) and finishes in one call. Either way the checks and error codes are the
//! protocol's.
//!
//! The package's hand-written entry points (`sdk-wasm/js/`) wrap these functions in an async
//! API and turn the errors into instances of their `KazashiError` class; see `docs/sdk.md`.

mod convert;
pub mod diagnostics;
mod error;
mod ops;
#[cfg(feature = "rustcrypto")]
mod rustcrypto;
#[cfg(not(feature = "rustcrypto"))]
mod webcrypto;

use kazashi_protocol::jose::PublicKey;
use wasm_bindgen::prelude::*;

pub use error::Failure;

#[cfg(not(feature = "rustcrypto"))]
use ops::PrivateRef;
use ops::{Machine, Step};

/// An operation in progress. `resume(undefined)` starts it; each call returns either a
/// request for a cryptographic primitive (`{ op: 'sign' | 'verify' | … }`, answered by the
/// next call's argument) or `{ op: 'done', value }`. The fallback module answers its own
/// requests, so its first `resume` is already done. Free it with `free()`.
#[wasm_bindgen]
pub struct Operation {
    machine: Box<dyn Machine>,
    #[cfg(not(feature = "rustcrypto"))]
    expected: webcrypto::Expected,
    /// The key of the last `check` request, to remember a match.
    #[cfg(not(feature = "rustcrypto"))]
    checking: Option<ops::PrivateRef>,
    finished: bool,
}

impl Operation {
    fn new(machine: impl Machine + 'static) -> Self {
        Self {
            machine: Box::new(machine),
            #[cfg(not(feature = "rustcrypto"))]
            expected: webcrypto::Expected::Start,
            #[cfg(not(feature = "rustcrypto"))]
            checking: None,
            finished: false,
        }
    }
}

#[wasm_bindgen]
impl Operation {
    /// Advances the operation with the answer to its last request (`undefined` at first).
    #[cfg(not(feature = "rustcrypto"))]
    pub fn resume(&mut self, answer: JsValue) -> Result<JsValue, Failure> {
        if self.finished {
            return Err(ops::out_of_order());
        }
        let mut outcome = webcrypto::outcome(self.expected, &answer)?;
        if let (Some(key), ops::Outcome::Valid(true)) = (self.checking.take(), &outcome) {
            key.confirmed.set(true);
        }
        loop {
            let step = self.machine.next(outcome);
            let step = step.inspect_err(|_| self.finished = true);
            match step? {
                // A key WebCrypto already found to match: the same answer, without asking.
                Step::Need(ops::Request::Check(key)) if key.confirmed.get() => {
                    outcome = ops::Outcome::Valid(true);
                }
                Step::Need(request) => {
                    if let ops::Request::Check(key) = &request {
                        self.checking = Some(PrivateRef::clone(key));
                    }
                    self.expected = webcrypto::Expected::of(&request);
                    return webcrypto::request(&request);
                }
                Step::Done(value) => {
                    self.finished = true;
                    return done(value);
                }
            }
        }
    }

    /// Runs the operation to its end, answering every request with RustCrypto.
    #[cfg(feature = "rustcrypto")]
    pub fn resume(&mut self, _answer: JsValue) -> Result<JsValue, Failure> {
        if self.finished {
            return Err(ops::out_of_order());
        }
        self.finished = true;
        let mut outcome = ops::Outcome::Start;
        loop {
            match self.machine.next(outcome)? {
                Step::Need(request) => outcome = rustcrypto::perform(request)?,
                Step::Done(value) => return done(value),
            }
        }
    }
}

/// `{ op: 'done', value }`.
fn done(value: JsValue) -> Result<JsValue, Failure> {
    let out = js_sys::Object::new();
    convert::set(&out, "op", &convert::name_of("done"))?;
    convert::set(&out, "value", &value)?;
    Ok(out.into())
}

/// A fresh P-256 key pair: `{ privateJwk, publicJwk }`, `kid` set to the RFC 7638 thumbprint.
#[wasm_bindgen(js_name = generateKeyPair)]
pub fn generate_key_pair() -> Operation {
    Operation::new(ops::GenerateKeyPair)
}

/// Signs command claims with the provider's private JWK: a compact JWS
/// (`typ: "kazashi-command+jwt"`, `kid` = the key's thumbprint).
#[wasm_bindgen(js_name = signCommand)]
pub fn sign_command(claims: &JsValue, private_jwk: &JsValue) -> Result<Operation, Failure> {
    Ok(Operation::new(ops::SignCommand::new(claims, private_jwk)?))
}

/// Signs command claims, then seals them to the server's encryption key: a compact JWE
/// (`ECDH-ES+A256KW`/`A256GCM`, `cty: "JWT"`). `options` is `{ providerKey, serverKey }`.
#[wasm_bindgen(js_name = sealCommand)]
pub fn seal_command(claims: &JsValue, options: &JsValue) -> Result<Operation, Failure> {
    Ok(Operation::new(ops::SealCommand::new(claims, options)?))
}

/// Verifies a result (opening it first when it is sealed and `providerKey` is given) and
/// gives its claims. `options`: `{ serverKeys, issuer, audience, command?, providerKey?,
/// now?, leeway?, maxAge? }`, times in seconds.
#[wasm_bindgen(js_name = verifyResult)]
pub fn verify_result(token: &JsValue, options: &JsValue) -> Result<Operation, Failure> {
    Ok(Operation::new(ops::VerifyResult::new(token, options)?))
}

/// Verifies a compact JWS (ES256) with a public JWK: `{ payload, protectedHeader }`, as
/// `jose`'s `compactVerify`. The profile's header checks apply; `typ` is not checked.
#[wasm_bindgen(js_name = compactVerify)]
pub fn compact_verify(token: &JsValue, public_jwk: &JsValue) -> Result<Operation, Failure> {
    Ok(Operation::new(ops::CompactVerify::new(token, public_jwk)?))
}

/// Decrypts a compact JWE (`ECDH-ES`/`ECDH-ES+A256KW`, `A256GCM`) with a private JWK:
/// `{ plaintext, protectedHeader }`, as `jose`'s `compactDecrypt`.
#[wasm_bindgen(js_name = compactDecrypt)]
pub fn compact_decrypt(token: &JsValue, private_jwk: &JsValue) -> Result<Operation, Failure> {
    Ok(Operation::new(ops::CompactDecrypt::new(
        token,
        private_jwk,
    )?))
}

/// The RFC 7638 thumbprint (SHA-256, base64url) of a P-256 JWK's public part.
#[wasm_bindgen(js_name = calculateJwkThumbprint)]
pub fn calculate_jwk_thumbprint(jwk: &JsValue) -> Result<String, Failure> {
    let jwk = convert::jwk(jwk)?;
    Ok(PublicKey::from_jwk(&jwk.to_public())?.thumbprint())
}

/// Checks a JWK Set's shape and returns it normalized (members this profile knows).
#[wasm_bindgen(js_name = parseJwks)]
pub fn parse_jwks(jwks: &JsValue) -> Result<JsValue, Failure> {
    convert::parse(&convert::jwk_set(jwks)?.to_json())
}

/// Which module this is: `"webcrypto"` (the main one, whose requests JavaScript answers) or
/// `"rustcrypto"` (the fallback).
#[wasm_bindgen(js_name = cryptoProvider)]
pub fn crypto_provider() -> String {
    if cfg!(feature = "rustcrypto") {
        "rustcrypto".into()
    } else {
        "webcrypto".into()
    }
}
