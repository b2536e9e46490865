//! kazashi's command and result envelopes: a JOSE profile (`docs/envelopes.md`).
//!
//! A command is a JWS ES256 (`typ` [`COMMAND_TYP`]) signed by the provider, sealed in a JWE
//! `ECDH-ES+A256KW`/`A256GCM` (`cty` `JWT`) to the server's encryption key. A result is a JWS
//! ES256 (`typ` [`RESULT_TYP`]) signed by the server, optionally sealed the same way to the
//! provider. Verification follows RFC 8725: one algorithm, explicit and distinct `typ`,
//! `iss`/`aud` checks, `exp`/`iat`/`nbf` with a small leeway; `jti` replay is the server's
//! (stateful) part.

mod claims;
mod error;

pub use claims::{
    Audience, CommandClaims, MAX_AMOUNT, MAX_ID_LEN, MAX_NAME_LEN, MAX_OPS, MAX_RECORD_LEN, Op,
    OpResult, OpStatus, ResultClaims, Status,
};
pub use error::EnvelopeError;

use alloc::string::{String, ToString};
use rand_core::CryptoRngCore;
use serde::de::DeserializeOwned;

use crate::jose::jwe::{self, KeyManagement};
use crate::jose::jwk::{JwkSet, PrivateKey, PublicKey};
use crate::jose::jws;
use crate::jose::{HeaderParams, json};

/// The JWS `typ` of a command.
pub const COMMAND_TYP: &str = "kazashi-command+jwt";
/// The JWS `typ` of a result.
pub const RESULT_TYP: &str = "kazashi-result+jwt";
/// The JWE `cty` of a sealed envelope (RFC 7519 §5.2: a nested JWT).
pub const NESTED_CTY: &str = "JWT";
/// Default clock leeway, seconds.
pub const DEFAULT_LEEWAY: u64 = 60;
/// Default longest command lifetime (`exp - iat`), seconds.
pub const DEFAULT_MAX_LIFETIME: u64 = 600;

/// Signs a command with the provider's key (compact JWS, `kid` = the key's thumbprint).
pub fn sign_command(
    claims: &CommandClaims,
    provider_key: &PrivateKey,
) -> Result<String, EnvelopeError> {
    claims.validate()?;
    sign(claims, COMMAND_TYP, provider_key)
}

/// Signs a command, then seals it to the server's encryption key (compact JWE).
pub fn seal_command(
    claims: &CommandClaims,
    provider_key: &PrivateKey,
    server_key: &PublicKey,
    rng: &mut impl CryptoRngCore,
) -> Result<String, EnvelopeError> {
    let signed = sign_command(claims, provider_key)?;
    seal(&signed, server_key, rng)
}

/// Signs a result with the server's key.
pub fn sign_result(
    claims: &ResultClaims,
    server_key: &PrivateKey,
) -> Result<String, EnvelopeError> {
    claims.validate()?;
    sign(claims, RESULT_TYP, server_key)
}

/// Signs a result, then seals it to the provider's encryption key.
pub fn seal_result(
    claims: &ResultClaims,
    server_key: &PrivateKey,
    provider_key: &PublicKey,
    rng: &mut impl CryptoRngCore,
) -> Result<String, EnvelopeError> {
    let signed = sign_result(claims, server_key)?;
    seal(&signed, provider_key, rng)
}

fn sign<T: serde::Serialize>(
    claims: &T,
    typ: &str,
    key: &PrivateKey,
) -> Result<String, EnvelopeError> {
    let payload =
        serde_json::to_vec(claims).map_err(|_| EnvelopeError::InvalidClaims("unserializable"))?;
    let params = HeaderParams {
        typ: Some(typ.to_string()),
        kid: Some(key.public_key().thumbprint()),
        cty: None,
    };
    Ok(jws::sign(&params, &payload, key)?)
}

fn seal(
    signed: &str,
    recipient: &PublicKey,
    rng: &mut impl CryptoRngCore,
) -> Result<String, EnvelopeError> {
    let params = HeaderParams {
        typ: None,
        kid: Some(recipient.thumbprint()),
        cty: Some(NESTED_CTY.to_string()),
    };
    Ok(jwe::encrypt(
        signed.as_bytes(),
        recipient,
        KeyManagement::EcdhEsA256Kw,
        &params,
        rng,
    )?)
}

/// What the server checks a command against.
#[derive(Clone, Copy, Debug)]
pub struct CommandPolicy<'a> {
    /// The server's id: `aud` must contain it.
    pub audience: &'a str,
    /// Now, seconds since the Unix epoch.
    pub now: u64,
    /// Clock leeway, seconds ([`DEFAULT_LEEWAY`]).
    pub leeway: u64,
    /// Longest accepted `exp - iat`, seconds ([`DEFAULT_MAX_LIFETIME`]).
    pub max_lifetime: u64,
}

impl<'a> CommandPolicy<'a> {
    /// The default policy for a server named `audience` at time `now`.
    pub fn new(audience: &'a str, now: u64) -> Self {
        Self {
            audience,
            now,
            leeway: DEFAULT_LEEWAY,
            max_lifetime: DEFAULT_MAX_LIFETIME,
        }
    }
}

/// A provider's signature key, found by `kid`.
#[derive(Debug)]
pub struct ProviderKey {
    /// The provider that owns the key: the command's `iss` must be this.
    pub provider: String,
    /// The key.
    pub key: PublicKey,
}

/// A command whose seal, signature and claims were checked.
#[derive(Debug)]
pub struct VerifiedCommand {
    /// The claims.
    pub claims: CommandClaims,
    /// The `kid` of the provider key that signed it.
    pub kid: String,
    /// The provider's signed JWS, kept for the audit trail.
    pub signed: String,
}

/// Opens a sealed command and verifies it (the server's side).
///
/// `decryption_key` finds the server's encryption key by the JWE `kid`; `provider_key` finds
/// a provider's signature key by the JWS `kid`. Replay (`jti` seen before) is not checked here.
pub fn open_command<'k>(
    token: &str,
    decryption_key: impl FnOnce(&str) -> Option<&'k PrivateKey>,
    provider_key: impl FnOnce(&str) -> Option<ProviderKey>,
    policy: &CommandPolicy<'_>,
) -> Result<VerifiedCommand, EnvelopeError> {
    let signed = unseal(token, decryption_key, true)?;
    let unverified = jws::decode(&signed)?;
    check_typ(unverified.header().typ.as_deref(), COMMAND_TYP)?;
    let kid = unverified
        .header()
        .kid
        .clone()
        .ok_or(EnvelopeError::MissingKeyId)?;
    let owner = provider_key(&kid).ok_or(EnvelopeError::UnknownKey)?;
    let verified = unverified.verify(&owner.key)?;
    let claims: CommandClaims = parse_claims(verified.payload())?;
    claims.validate()?;
    if claims.iss != owner.provider {
        return Err(EnvelopeError::WrongIssuer);
    }
    if !claims.aud.contains(policy.audience) {
        return Err(EnvelopeError::WrongAudience);
    }
    // RFC 7519 §4.1.4-4.1.6 with leeway (RFC 8725 §3.10).
    if policy.now > claims.exp.saturating_add(policy.leeway) {
        return Err(EnvelopeError::Expired);
    }
    if claims.iat > policy.now.saturating_add(policy.leeway) {
        return Err(EnvelopeError::IssuedInFuture);
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > policy.now.saturating_add(policy.leeway))
    {
        return Err(EnvelopeError::NotYetValid);
    }
    if claims.exp - claims.iat > policy.max_lifetime {
        return Err(EnvelopeError::LifetimeTooLong);
    }
    Ok(VerifiedCommand {
        claims,
        kid,
        signed,
    })
}

/// What a provider checks a result against.
#[derive(Clone, Copy, Debug)]
pub struct ResultPolicy<'a> {
    /// The server's published signature keys (its JWKS).
    pub server_keys: &'a JwkSet,
    /// The server's id: `iss` must be this.
    pub issuer: &'a str,
    /// The provider's id: `aud` must contain it.
    pub audience: &'a str,
    /// The expected command `jti`, when the caller knows it.
    pub command: Option<&'a str>,
    /// The provider's decryption key, for sealed results.
    pub provider_key: Option<&'a PrivateKey>,
    /// Now, seconds since the Unix epoch.
    pub now: u64,
    /// Clock leeway, seconds.
    pub leeway: u64,
    /// Oldest accepted result (`now - iat`), seconds, if any.
    pub max_age: Option<u64>,
}

/// A result whose signature and claims were checked.
#[derive(Debug)]
pub struct VerifiedResult {
    /// The claims.
    pub claims: ResultClaims,
    /// Whether it arrived sealed to the provider.
    pub sealed: bool,
}

/// Verifies a result (and opens it first when it is sealed): the provider's side.
pub fn verify_result(
    token: &str,
    policy: &ResultPolicy<'_>,
) -> Result<VerifiedResult, EnvelopeError> {
    let sealed = is_sealed(token);
    let signed = if sealed {
        let key = policy.provider_key.ok_or(EnvelopeError::SealedNeedsKey)?;
        unseal(token, |_| Some(key), true)?
    } else {
        token.into()
    };
    let unverified = jws::decode(&signed)?;
    check_typ(unverified.header().typ.as_deref(), RESULT_TYP)?;
    let kid = unverified
        .header()
        .kid
        .as_deref()
        .ok_or(EnvelopeError::MissingKeyId)?;
    let jwk = policy
        .server_keys
        .find(kid)
        .ok_or(EnvelopeError::UnknownKey)?;
    let key = PublicKey::from_jwk(jwk)?;
    let verified = unverified.verify(&key)?;
    let claims: ResultClaims = parse_claims(verified.payload())?;
    claims.validate()?;
    if claims.iss != policy.issuer {
        return Err(EnvelopeError::WrongIssuer);
    }
    if !claims.aud.contains(policy.audience) {
        return Err(EnvelopeError::WrongAudience);
    }
    if claims.iat > policy.now.saturating_add(policy.leeway) {
        return Err(EnvelopeError::IssuedInFuture);
    }
    if let Some(max_age) = policy.max_age {
        if policy.now
            > claims
                .iat
                .saturating_add(max_age)
                .saturating_add(policy.leeway)
        {
            return Err(EnvelopeError::Expired);
        }
    }
    if let Some(command) = policy.command {
        if claims.cmd != command {
            return Err(EnvelopeError::CommandMismatch);
        }
    }
    Ok(VerifiedResult { claims, sealed })
}

/// Opens a JWE whose content is a nested JWT and returns the inner compact JWS.
fn unseal<'k>(
    token: &str,
    key: impl FnOnce(&str) -> Option<&'k PrivateKey>,
    required: bool,
) -> Result<String, EnvelopeError> {
    if !is_sealed(token) {
        return if required {
            Err(EnvelopeError::NotSealed)
        } else {
            Ok(token.into())
        };
    }
    let sealed = jwe::decode(token)?;
    let kid = sealed
        .header()
        .kid
        .as_deref()
        .ok_or(EnvelopeError::MissingKeyId)?;
    let key = key(kid).ok_or(EnvelopeError::UnknownKey)?;
    let opened = sealed.decrypt(key)?;
    // RFC 7519 §5.2: cty "JWT" marks a nested JWT (compared case-insensitively).
    if !opened
        .header
        .cty
        .as_deref()
        .is_some_and(|cty| cty.eq_ignore_ascii_case(NESTED_CTY))
    {
        return Err(EnvelopeError::WrongContentType);
    }
    String::from_utf8(opened.plaintext)
        .map_err(|_| EnvelopeError::Jose(crate::jose::JoseError::InvalidUtf8))
}

/// A compact JWE has five parts, a JWS three (RFC 7516 §9).
fn is_sealed(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 4
}

fn check_typ(typ: Option<&str>, expected: &'static str) -> Result<(), EnvelopeError> {
    // RFC 8725 §3.11: explicit typing; RFC 7515 §4.1.9 compares media types case-insensitively.
    match typ {
        Some(typ) if typ.eq_ignore_ascii_case(expected) => Ok(()),
        Some(_) => Err(EnvelopeError::WrongType),
        None => Err(EnvelopeError::MissingType),
    }
}

fn parse_claims<T: DeserializeOwned>(payload: &[u8]) -> Result<T, EnvelopeError> {
    let object = json::parse_object(payload)?;
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|_| EnvelopeError::InvalidClaims("claims do not match the envelope schema"))
}
