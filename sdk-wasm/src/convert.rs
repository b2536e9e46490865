//! JavaScript values in and out: strict type checks, no panics on any input.
//!
//! Objects cross as JSON text (`JSON.stringify` in, `JSON.parse` out) and are read by the
//! protocol's own parsers: one serde instantiation per type in the wasm, not one per format.
//! `JSON.stringify` refuses cycles, BigInts and throwing getters, and gives up on very deep
//! values; the parser then bounds nesting (serde_json's recursion limit).

use js_sys::{Array, JSON, JsString, Object, Reflect, Uint8Array};
use kazashi_protocol::envelope::{CommandClaims, EnvelopeError};
use kazashi_protocol::jose::{
    JoseError, Jwk, JwkSet, MAX_TOKEN_LEN, PublicKey, UncheckedPrivateKey,
};
use std::cell::RefCell;

use wasm_bindgen::{JsCast, JsValue};
use zeroize::Zeroizing;

use crate::error::Failure;
use crate::ops::{PrivateRef, PublicRef};

/// Longest JSON text of an object argument (claims, a JWK, a JWK Set): what fits in a token.
const MAX_JSON_LEN: usize = MAX_TOKEN_LEN;

/// A compact token: a string, or its UTF-8 bytes (as `jose` accepts).
pub(crate) fn token(value: &JsValue) -> Result<String, Failure> {
    if let Some(text) = value.dyn_ref::<JsString>() {
        // UTF-16 length ≤ UTF-8 length: refuse before copying anything into wasm memory.
        if text.length() as usize > MAX_TOKEN_LEN {
            return Err(JoseError::TokenTooLarge.into());
        }
        return text
            .as_string()
            .ok_or_else(|| Failure::argument("token must be a string"));
    }
    if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        if bytes.length() as usize > MAX_TOKEN_LEN {
            return Err(JoseError::TokenTooLarge.into());
        }
        return String::from_utf8(bytes.to_vec()).map_err(|_| JoseError::InvalidCompact.into());
    }
    Err(Failure::argument("token must be a string or a Uint8Array"))
}

/// A plain object argument (not null, not an array, not a function).
pub(crate) fn object<'a>(value: &'a JsValue, what: &str) -> Result<&'a Object, Failure> {
    if value.is_object() && !Array::is_array(value) {
        if let Some(object) = value.dyn_ref::<Object>() {
            return Ok(object);
        }
    }
    Err(Failure::argument(format!("{what} must be an object")))
}

/// `object[name]`; a throwing getter or proxy trap is an invalid argument, not a crash.
pub(crate) fn member(object: &Object, name: &'static str) -> Result<JsValue, Failure> {
    Reflect::get(object, &name_of(name))
        .map_err(|_| Failure::argument(format!("could not read `{name}`")))
}

/// An optional member: `undefined` and `null` are absent.
pub(crate) fn optional(object: &Object, name: &'static str) -> Result<Option<JsValue>, Failure> {
    let value = member(object, name)?;
    Ok((!value.is_undefined() && !value.is_null()).then_some(value))
}

/// A required string member.
pub(crate) fn string(object: &Object, name: &'static str) -> Result<String, Failure> {
    optional_string(object, name)?
        .ok_or_else(|| Failure::argument(format!("`{name}` must be a string")))
}

/// An optional string member.
pub(crate) fn optional_string(
    object: &Object,
    name: &'static str,
) -> Result<Option<String>, Failure> {
    match optional(object, name)? {
        None => Ok(None),
        Some(value) => value
            .as_string()
            .map(Some)
            .ok_or_else(|| Failure::argument(format!("`{name}` must be a string"))),
    }
}

/// An optional member holding a whole number of seconds (≥ 0, at most 2^53 - 1).
pub(crate) fn optional_seconds(
    object: &Object,
    name: &'static str,
) -> Result<Option<u64>, Failure> {
    match optional(object, name)? {
        None => Ok(None),
        Some(value) => match value.as_f64() {
            Some(n) if (0.0..=9_007_199_254_740_991.0).contains(&n) => {
                // Truncation to whole seconds is the documented behaviour.
                Ok(Some(n.floor() as u64))
            }
            _ => Err(Failure::argument(format!(
                "`{name}` must be a non-negative number of seconds"
            ))),
        },
    }
}

/// The JSON text of a JavaScript value, `None` when `JSON.stringify` throws (a cycle, a BigInt,
/// a throwing getter, nesting deeper than its stack) or the text is longer than a token.
fn json_text(value: &JsValue) -> Option<String> {
    let text = JSON::stringify(value).ok()?;
    if text.length() as usize > MAX_JSON_LEN {
        return None;
    }
    text.as_string()
}

/// A JWK object (public or private members), not yet validated.
pub(crate) fn jwk(value: &JsValue) -> Result<Jwk, Failure> {
    object(value, "a JWK").map_err(|_| Failure::from(JoseError::InvalidKey))?;
    let text = json_text(value).ok_or(JoseError::InvalidKey)?;
    Ok(Jwk::from_json(text.as_bytes()).map_err(|_| JoseError::InvalidKey)?)
}

/// How many property names and fixed strings [`name_of`] keeps.
const NAMES: usize = 48;

thread_local! {
    static NAME_CACHE: RefCell<Vec<(&'static str, JsValue)>> = const { RefCell::new(Vec::new()) };
}

/// A fixed string (a property name, an `op`) as a JavaScript string, made once: every call
/// that reads an option or builds a request object would otherwise decode it from wasm memory
/// again.
pub(crate) fn name_of(name: &'static str) -> JsValue {
    NAME_CACHE.with_borrow_mut(|names| {
        if let Some((_, value)) = names
            .iter()
            .find(|(known, _)| core::ptr::eq(*known, name) || *known == name)
        {
            return value.clone();
        }
        let value = JsValue::from_str(name);
        if names.len() < NAMES {
            names.push((name, value.clone()));
        }
        value
    })
}

/// Keys validated recently, by the JSON text of their JWK: a key given again (the usual case:
/// a server's key, the provider's own) is neither parsed nor validated again. Validation is a
/// function of that text alone, so this changes no outcome. The texts of private keys are
/// zeroized when they leave.
const KEY_CACHE: usize = 16;

thread_local! {
    static PRIVATE_KEYS: RefCell<Vec<(Zeroizing<String>, PrivateRef)>> = const { RefCell::new(Vec::new()) };
    static PUBLIC_KEYS: RefCell<Vec<(String, PublicRef)>> = const { RefCell::new(Vec::new()) };
    static SET_KEYS: RefCell<Vec<(Jwk, PublicRef)>> = const { RefCell::new(Vec::new()) };
}

fn cached<K: AsRef<str>, T: Clone>(
    cache: &'static std::thread::LocalKey<RefCell<Vec<(K, T)>>>,
    text: &str,
) -> Option<T> {
    cache.with_borrow(|entries| {
        entries
            .iter()
            .find(|(k, _)| k.as_ref() == text)
            .map(|(_, v)| v.clone())
    })
}

fn remember<K, T>(cache: &'static std::thread::LocalKey<RefCell<Vec<(K, T)>>>, text: K, value: T) {
    cache.with_borrow_mut(|entries| {
        if entries.len() >= KEY_CACHE {
            entries.remove(0);
        }
        entries.push((text, value));
    });
}

/// A private P-256 JWK whose members are valid; whether `d` matches `x`/`y` is checked by
/// the operation's first request.
pub(crate) fn private_key(value: &JsValue) -> Result<PrivateRef, Failure> {
    object(value, "a JWK").map_err(|_| Failure::from(JoseError::InvalidKey))?;
    let text = Zeroizing::new(json_text(value).ok_or(JoseError::InvalidKey)?);
    if let Some(key) = cached(&PRIVATE_KEYS, &text) {
        return Ok(key);
    }
    let jwk = Jwk::from_json(text.as_bytes()).map_err(|_| JoseError::InvalidKey)?;
    let key = PrivateRef::new(UncheckedPrivateKey::from_jwk(&jwk)?);
    remember(&PRIVATE_KEYS, text, key.clone());
    Ok(key)
}

/// A validated public P-256 JWK.
pub(crate) fn public_key(value: &JsValue) -> Result<PublicRef, Failure> {
    object(value, "a JWK").map_err(|_| Failure::from(JoseError::InvalidKey))?;
    let text = json_text(value).ok_or(JoseError::InvalidKey)?;
    if let Some(key) = cached(&PUBLIC_KEYS, &text) {
        return Ok(key);
    }
    let jwk = Jwk::from_json(text.as_bytes()).map_err(|_| JoseError::InvalidKey)?;
    let key = PublicRef::new(PublicKey::from_jwk(&jwk)?);
    remember(&PUBLIC_KEYS, text, key.clone());
    Ok(key)
}

/// A public key found in a JWK Set, validated ([`PublicKey::from_jwk`]) once and then kept by
/// its JWK, as [`public_key`] keeps keys given directly: a provider verifies many results
/// against the same server key.
pub(crate) fn public_key_of(jwk: &Jwk) -> Result<PublicRef, Failure> {
    if let Some(key) = SET_KEYS.with_borrow(|entries| {
        entries
            .iter()
            .find(|(known, _)| known == jwk)
            .map(|(_, key)| key.clone())
    }) {
        return Ok(key);
    }
    let key = PublicRef::new(PublicKey::from_jwk(jwk)?);
    remember(&SET_KEYS, jwk.clone(), key.clone());
    Ok(key)
}

/// A JWK Set object, its keys not yet validated.
pub(crate) fn jwk_set(value: &JsValue) -> Result<JwkSet, Failure> {
    object(value, "a JWK Set").map_err(|_| Failure::from(JoseError::InvalidKey))?;
    let text = json_text(value).ok_or(JoseError::InvalidKey)?;
    Ok(JwkSet::from_json(text.as_bytes()).map_err(|_| JoseError::InvalidKey)?)
}

/// A JavaScript value from JSON text we made.
pub(crate) fn parse(json: &str) -> Result<JsValue, Failure> {
    JSON::parse(json).map_err(|_| Failure::argument("could not build the result"))
}

/// A JavaScript object from a parsed JSON object (a protected header, as received).
pub(crate) fn object_to_js(
    value: &kazashi_protocol::jose::json::Object,
) -> Result<JsValue, Failure> {
    parse(&value.to_json())
}

/// Command claims: an object matching the envelope schema (`invalid_claims` otherwise).
pub(crate) fn command_claims(value: &JsValue) -> Result<CommandClaims, Failure> {
    let invalid = EnvelopeError::InvalidClaims("claims must be a JSON object");
    object(value, "claims").map_err(|_| Failure::from(invalid.clone()))?;
    let text = json_text(value).ok_or(invalid)?;
    Ok(CommandClaims::from_json(text.as_bytes())?)
}

/// A required member (`undefined` and `null` are absent).
pub(crate) fn required(object: &Object, name: &'static str) -> Result<JsValue, Failure> {
    optional(object, name)?.ok_or_else(|| Failure::argument(format!("`{name}` is required")))
}

/// `target[name] = value` on an object of ours.
pub(crate) fn set(target: &Object, name: &'static str, value: &JsValue) -> Result<(), Failure> {
    Reflect::set(target, &name_of(name), value)
        .map(|_| ())
        .map_err(|_| Failure::argument("could not build the result"))
}
