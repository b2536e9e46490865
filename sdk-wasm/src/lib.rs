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
//! The package's hand-written entry points (`sdk-wasm/js/`) wrap these functions in an async
//! API and turn the errors into instances of their `KazashiError` class; see `docs/sdk.md`.

mod convert;
pub mod diagnostics;
mod error;

use js_sys::{Object, Reflect, Uint8Array};
use kazashi_protocol::envelope::{self, CommandClaims, DEFAULT_LEEWAY, ResultPolicy};
use kazashi_protocol::jose::{PublicKey, jwe, jws};
use rand_core::OsRng;
use wasm_bindgen::prelude::*;

pub use error::Failure;

use convert::{from_js_tree, object};

/// A fresh P-256 key pair: `{ privateJwk, publicJwk }`, `kid` set to the RFC 7638 thumbprint.
#[wasm_bindgen(js_name = generateKeyPair)]
pub fn generate_key_pair() -> Result<JsValue, Failure> {
    ensure_randomness()?;
    let key = kazashi_protocol::jose::PrivateKey::generate(&mut OsRng);
    let private = key.to_jwk();
    let public = private.to_public();
    let pair = Object::new();
    set(&pair, "privateJwk", &convert::to_js(&private)?)?;
    set(&pair, "publicJwk", &convert::to_js(&public)?)?;
    Ok(pair.into())
}

/// Signs command claims with the provider's private JWK: a compact JWS
/// (`typ: "kazashi-command+jwt"`, `kid` = the key's thumbprint).
#[wasm_bindgen(js_name = signCommand)]
pub fn sign_command(claims: &JsValue, private_jwk: &JsValue) -> Result<String, Failure> {
    let claims = command_claims(claims)?;
    let key = convert::private_key(private_jwk)?;
    Ok(envelope::sign_command(&claims, &key)?)
}

/// Signs command claims, then seals them to the server's encryption key: a compact JWE
/// (`ECDH-ES+A256KW`/`A256GCM`, `cty: "JWT"`). `options` is `{ providerKey, serverKey }`.
#[wasm_bindgen(js_name = sealCommand)]
pub fn seal_command(claims: &JsValue, options: &JsValue) -> Result<String, Failure> {
    let claims = command_claims(claims)?;
    let options = object(options, "options")?;
    let provider_key = convert::private_key(&required(options, "providerKey")?)?;
    let server_key = convert::public_key(&required(options, "serverKey")?)?;
    ensure_randomness()?;
    Ok(envelope::seal_command(
        &claims,
        &provider_key,
        &server_key,
        &mut OsRng,
    )?)
}

/// Verifies a result (opening it first when it is sealed and `providerKey` is given) and
/// returns its claims. `options`: `{ serverKeys, issuer, audience, command?, providerKey?,
/// now?, leeway?, maxAge? }`, times in seconds.
#[wasm_bindgen(js_name = verifyResult)]
pub fn verify_result(token: &JsValue, options: &JsValue) -> Result<JsValue, Failure> {
    let token = convert::token(token)?;
    let options = object(options, "options")?;
    let server_keys = convert::jwk_set(&required(options, "serverKeys")?)?;
    let issuer = convert::string(options, "issuer")?;
    let audience = convert::string(options, "audience")?;
    let command = convert::optional_string(options, "command")?;
    let provider_key = convert::optional(options, "providerKey")?
        .map(|jwk| convert::private_key(&jwk))
        .transpose()?;
    let now = match convert::optional_seconds(options, "now")? {
        Some(now) => now,
        // Date.now() is milliseconds since the epoch, always finite and positive.
        None => (js_sys::Date::now() / 1000.0).floor() as u64,
    };
    let policy = ResultPolicy {
        server_keys: &server_keys,
        issuer: &issuer,
        audience: &audience,
        command: command.as_deref(),
        provider_key: provider_key.as_ref(),
        now,
        leeway: convert::optional_seconds(options, "leeway")?.unwrap_or(DEFAULT_LEEWAY),
        max_age: convert::optional_seconds(options, "maxAge")?,
    };
    let verified = envelope::verify_result(&token, &policy)?;
    convert::to_js(&verified.claims)
}

/// Verifies a compact JWS (ES256) with a public JWK: `{ payload, protectedHeader }`, as
/// `jose`'s `compactVerify`. The profile's header checks apply; `typ` is not checked.
#[wasm_bindgen(js_name = compactVerify)]
pub fn compact_verify(token: &JsValue, public_jwk: &JsValue) -> Result<JsValue, Failure> {
    let token = convert::token(token)?;
    let key = convert::public_key(public_jwk)?;
    let (header, payload) = jws::verify(&token, &key)?.into_parts();
    let out = Object::new();
    set(&out, "payload", &Uint8Array::from(payload.as_slice()))?;
    set(&out, "protectedHeader", &convert::to_js(&header.raw)?)?;
    Ok(out.into())
}

/// Decrypts a compact JWE (`ECDH-ES`/`ECDH-ES+A256KW`, `A256GCM`) with a private JWK:
/// `{ plaintext, protectedHeader }`, as `jose`'s `compactDecrypt`.
#[wasm_bindgen(js_name = compactDecrypt)]
pub fn compact_decrypt(token: &JsValue, private_jwk: &JsValue) -> Result<JsValue, Failure> {
    let token = convert::token(token)?;
    let key = convert::private_key(private_jwk)?;
    let opened = jwe::decrypt(&token, &key)?;
    let out = Object::new();
    set(
        &out,
        "plaintext",
        &Uint8Array::from(opened.plaintext.as_slice()),
    )?;
    set(
        &out,
        "protectedHeader",
        &convert::to_js(&opened.header.raw)?,
    )?;
    Ok(out.into())
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
    convert::to_js(&convert::jwk_set(jwks)?)
}

fn command_claims(value: &JsValue) -> Result<CommandClaims, Failure> {
    let invalid = envelope::EnvelopeError::InvalidClaims("").code();
    object(value, "claims").map_err(|_| Failure::new(invalid, "claims must be an object"))?;
    from_js_tree(value, invalid)
}

fn required(options: &Object, name: &str) -> Result<JsValue, Failure> {
    convert::optional(options, name)?
        .ok_or_else(|| Failure::argument(format!("`{name}` is required")))
}

fn set(target: &Object, name: &str, value: &JsValue) -> Result<(), Failure> {
    Reflect::set(target, &JsValue::from_str(name), value)
        .map(|_| ())
        .map_err(|_| Failure::argument("could not build the result"))
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
