//! JavaScript values in and out: strict type checks, bounded nesting, no panics on any input.

use js_sys::{Array, JsString, Object, Reflect, Uint8Array};
use kazashi_protocol::envelope::{CommandClaims, EnvelopeError};
use kazashi_protocol::jose::{
    JoseError, Jwk, JwkSet, MAX_TOKEN_LEN, PublicKey, UncheckedPrivateKey,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

use crate::error::Failure;
use crate::ops::PrivateRef;

/// Deepest nesting accepted in a claims object (the envelope schema needs 4).
const MAX_DEPTH: u32 = 16;
/// Most values (objects, arrays, leaves) accepted in a claims object.
const MAX_VALUES: u32 = 20_000;

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
pub(crate) fn member(object: &Object, name: &str) -> Result<JsValue, Failure> {
    Reflect::get(object, &JsValue::from_str(name))
        .map_err(|_| Failure::argument(format!("could not read `{name}`")))
}

/// An optional member: `undefined` and `null` are absent.
pub(crate) fn optional(object: &Object, name: &str) -> Result<Option<JsValue>, Failure> {
    let value = member(object, name)?;
    Ok((!value.is_undefined() && !value.is_null()).then_some(value))
}

/// A required string member.
pub(crate) fn string(object: &Object, name: &str) -> Result<String, Failure> {
    optional_string(object, name)?
        .ok_or_else(|| Failure::argument(format!("`{name}` must be a string")))
}

/// An optional string member.
pub(crate) fn optional_string(object: &Object, name: &str) -> Result<Option<String>, Failure> {
    match optional(object, name)? {
        None => Ok(None),
        Some(value) => value
            .as_string()
            .map(Some)
            .ok_or_else(|| Failure::argument(format!("`{name}` must be a string"))),
    }
}

/// An optional member holding a whole number of seconds (≥ 0, at most 2^53 - 1).
pub(crate) fn optional_seconds(object: &Object, name: &str) -> Result<Option<u64>, Failure> {
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

/// Deserializes a JavaScript value whose schema buffers (serde's tagged and untagged enums
/// recurse into whatever they are given), after checking it is a finite tree of bounded depth:
/// cyclic or deeply nested input would otherwise exhaust wasm's stack.
pub(crate) fn from_js_tree<T: DeserializeOwned>(
    value: &JsValue,
    code: &'static str,
) -> Result<T, Failure> {
    let mut budget = MAX_VALUES;
    if !bounded(value, 0, &mut budget) {
        return Err(Failure::new(
            code,
            "value is nested too deeply or too large",
        ));
    }
    from_js(value, code)
}

/// Deserializes a JavaScript value into a flat schema (structs of strings, numbers and lists
/// of them: JWKs). serde-wasm-bindgen skips unknown members without looking inside them, so
/// no input makes this recurse.
pub(crate) fn from_js<T: DeserializeOwned>(
    value: &JsValue,
    code: &'static str,
) -> Result<T, Failure> {
    serde_wasm_bindgen::from_value(value.clone())
        .map_err(|e| Failure::new(code, format!("value does not match the schema: {e}")))
}

fn bounded(value: &JsValue, depth: u32, budget: &mut u32) -> bool {
    if *budget == 0 || depth > MAX_DEPTH {
        return false;
    }
    *budget -= 1;
    if !value.is_object() {
        return true;
    }
    if value.is_instance_of::<Uint8Array>() {
        return true;
    }
    let children = if Array::is_array(value) {
        Array::from(value)
    } else {
        match value.dyn_ref::<Object>() {
            // Object.values reads own enumerable properties; a throwing getter is refused.
            Some(object) => match try_values(object) {
                Some(values) => values,
                None => return false,
            },
            None => return true,
        }
    };
    children
        .iter()
        .all(|child| bounded(&child, depth + 1, budget))
}

fn try_values(object: &Object) -> Option<Array> {
    object_values(object).ok()
}

#[wasm_bindgen]
extern "C" {
    /// `Object.values`, with a throwing getter or proxy trap caught.
    #[wasm_bindgen(catch, js_namespace = Object, js_name = values)]
    fn object_values(object: &Object) -> Result<Array, JsValue>;
}

/// A JWK object (public or private members), not yet validated.
pub(crate) fn jwk(value: &JsValue) -> Result<Jwk, Failure> {
    object(value, "a JWK").map_err(|_| Failure::from(JoseError::InvalidKey))?;
    from_js(value, JoseError::InvalidKey.code())
}

/// A private P-256 JWK whose members are valid; whether `d` matches `x`/`y` is checked by
/// the operation's first request.
pub(crate) fn private_key(value: &JsValue) -> Result<PrivateRef, Failure> {
    Ok(PrivateRef::new(UncheckedPrivateKey::from_jwk(&jwk(value)?)?))
}

/// A validated public P-256 JWK.
pub(crate) fn public_key(value: &JsValue) -> Result<PublicKey, Failure> {
    Ok(PublicKey::from_jwk(&jwk(value)?)?)
}

/// A JWK Set object, its keys not yet validated.
pub(crate) fn jwk_set(value: &JsValue) -> Result<JwkSet, Failure> {
    object(value, "a JWK Set").map_err(|_| Failure::from(JoseError::InvalidKey))?;
    from_js(value, JoseError::InvalidKey.code())
}

/// Serializes to a plain JavaScript object (maps as objects, numbers as numbers).
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, Failure> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| Failure::argument(format!("could not build the result: {e}")))
}

/// Command claims: an object matching the envelope schema (`invalid_claims` otherwise).
pub(crate) fn command_claims(value: &JsValue) -> Result<CommandClaims, Failure> {
    let invalid = EnvelopeError::InvalidClaims("").code();
    object(value, "claims").map_err(|_| Failure::new(invalid, "claims must be an object"))?;
    from_js_tree(value, invalid)
}

/// A required member (`undefined` and `null` are absent).
pub(crate) fn required(object: &Object, name: &str) -> Result<JsValue, Failure> {
    optional(object, name)?.ok_or_else(|| Failure::argument(format!("`{name}` is required")))
}

/// `target[name] = value` on an object of ours.
pub(crate) fn set(target: &Object, name: &str, value: &JsValue) -> Result<(), Failure> {
    Reflect::set(target, &JsValue::from_str(name), value)
        .map(|_| ())
        .map_err(|_| Failure::argument("could not build the result"))
}
