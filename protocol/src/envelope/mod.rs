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

use crate::jose::jwe::{self, KeyManagement};
use crate::jose::jwk::{Jwk, JwkSet, PrivateKey, PublicKey};
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
    sign(claims.to_json(), COMMAND_TYP, provider_key)
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
    sign(claims.to_json(), RESULT_TYP, server_key)
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

fn sign(payload: String, typ: &str, key: &PrivateKey) -> Result<String, EnvelopeError> {
    let (params, payload) = signing_parts(payload, typ, &key.public_key())?;
    Ok(jws::sign(&params, &payload, key)?)
}

fn signing_parts(
    payload: String,
    typ: &str,
    signer: &PublicKey,
) -> Result<(HeaderParams, alloc::vec::Vec<u8>), EnvelopeError> {
    let payload = payload.into_bytes();
    let params = HeaderParams {
        typ: Some(typ.to_string()),
        kid: Some(signer.thumbprint()),
        cty: None,
    };
    Ok((params, payload))
}

/// The first half of [`sign_command`] when ECDSA runs elsewhere: the claims are checked
/// against the schema, then the JWS Signing Input is built with `kid` = the thumbprint of
/// `provider`, the public half of the signing key. Sign it with ES256 and
/// [`finish`](jws::SigningInput::finish) it.
pub fn command_signing_input(
    claims: &CommandClaims,
    provider: &PublicKey,
) -> Result<jws::SigningInput, EnvelopeError> {
    claims.validate()?;
    let (params, payload) = signing_parts(claims.to_json(), COMMAND_TYP, provider)?;
    Ok(jws::signing_input(&params, &payload)?)
}

/// The first half of [`sign_result`] when ECDSA runs elsewhere; see
/// [`command_signing_input`].
pub fn result_signing_input(
    claims: &ResultClaims,
    server: &PublicKey,
) -> Result<jws::SigningInput, EnvelopeError> {
    claims.validate()?;
    let (params, payload) = signing_parts(claims.to_json(), RESULT_TYP, server)?;
    Ok(jws::signing_input(&params, &payload)?)
}

fn seal_params(recipient: &PublicKey) -> HeaderParams {
    HeaderParams {
        typ: None,
        kid: Some(recipient.thumbprint()),
        cty: Some(NESTED_CTY.to_string()),
    }
}

fn seal(
    signed: &str,
    recipient: &PublicKey,
    rng: &mut impl CryptoRngCore,
) -> Result<String, EnvelopeError> {
    Ok(jwe::encrypt(
        signed.as_bytes(),
        recipient,
        KeyManagement::EcdhEsA256Kw,
        &seal_params(recipient),
        rng,
    )?)
}

/// The first half of sealing a signed envelope (as [`seal_command`] and [`seal_result`] do)
/// when ECDH and AES run elsewhere: the JWE header (`ECDH-ES+A256KW`, `A256GCM`, `cty: JWT`,
/// `kid` = the recipient key's thumbprint) for the ephemeral public key `epk`. The plaintext
/// is `signed`'s bytes; see [`jwe::prepare_encryption`] for the rest.
pub fn prepare_seal(
    signed: &str,
    recipient: &PublicKey,
    epk: &PublicKey,
) -> Result<jwe::PreparedJwe, EnvelopeError> {
    Ok(jwe::prepare_encryption(
        signed.len(),
        KeyManagement::EcdhEsA256Kw,
        &seal_params(recipient),
        epk,
        &[],
        &[],
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
    if !is_sealed(token) {
        return Err(EnvelopeError::NotSealed);
    }
    let sealed = open_seal(token)?;
    let key = decryption_key(&sealed.kid).ok_or(EnvelopeError::UnknownKey)?;
    let signed = unsealed(sealed.jwe.decrypt(key)?)?;
    let (unverified, kid) = command_to_verify(&signed)?;
    let owner = provider_key(&kid).ok_or(EnvelopeError::UnknownKey)?;
    let verified = unverified.verify(&owner.key)?;
    let claims = check_command(&verified, &owner.provider, policy)?;
    Ok(VerifiedCommand {
        claims,
        kid,
        signed,
    })
}

/// A command's JWS with its header checked (`typ`, `kid`): verify its signature with the
/// provider key named by the returned `kid`, then [`check_command`]. The first steps of
/// [`open_command`] after unsealing, for a caller whose ECDSA runs elsewhere.
pub fn command_to_verify(signed: &str) -> Result<(jws::UnverifiedJws, String), EnvelopeError> {
    let unverified = jws::decode(signed)?;
    check_typ(unverified.header().typ.as_deref(), COMMAND_TYP)?;
    let kid = unverified
        .header()
        .kid
        .clone()
        .ok_or(EnvelopeError::MissingKeyId)?;
    Ok((unverified, kid))
}

/// The claims of a command whose signature verified with a key of `provider`: the schema,
/// `iss` (must be `provider`), `aud`, `exp`, `iat`, `nbf` and the lifetime, as
/// [`open_command`] checks them.
pub fn check_command(
    verified: &jws::Verified,
    provider: &str,
    policy: &CommandPolicy<'_>,
) -> Result<CommandClaims, EnvelopeError> {
    let claims = CommandClaims::from_object(json::parse_object(verified.payload())?)?;
    claims.validate()?;
    if claims.iss != provider {
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
    Ok(claims)
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

/// The checks of a result's claims: [`ResultPolicy`] without the keys.
#[derive(Clone, Copy, Debug)]
pub struct ResultChecks<'a> {
    /// The server's id: `iss` must be this.
    pub issuer: &'a str,
    /// The provider's id: `aud` must contain it.
    pub audience: &'a str,
    /// The expected command `jti`, when the caller knows it.
    pub command: Option<&'a str>,
    /// Now, seconds since the Unix epoch.
    pub now: u64,
    /// Clock leeway, seconds.
    pub leeway: u64,
    /// Oldest accepted result (`now - iat`), seconds, if any.
    pub max_age: Option<u64>,
}

impl<'a> From<&ResultPolicy<'a>> for ResultChecks<'a> {
    fn from(policy: &ResultPolicy<'a>) -> Self {
        Self {
            issuer: policy.issuer,
            audience: policy.audience,
            command: policy.command,
            now: policy.now,
            leeway: policy.leeway,
            max_age: policy.max_age,
        }
    }
}

/// Verifies a result (and opens it first when it is sealed): the provider's side.
///
/// The steps, for a caller whose cryptography runs elsewhere: [`is_sealed`]; if sealed,
/// [`open_seal`], decryption ([`jwe::EncryptedJwe::agree`] …
/// [`finish`](jwe::EncryptedJwe::finish)) and [`unsealed`]; then [`result_to_verify`], the
/// signature ([`jws::UnverifiedJws::finish`]) and [`check_result`].
pub fn verify_result(
    token: &str,
    policy: &ResultPolicy<'_>,
) -> Result<VerifiedResult, EnvelopeError> {
    let sealed = is_sealed(token);
    let signed = if sealed {
        let key = policy.provider_key.ok_or(EnvelopeError::SealedNeedsKey)?;
        unsealed(open_seal(token)?.jwe.decrypt(key)?)?
    } else {
        token.into()
    };
    let (unverified, key) = result_to_verify(&signed, policy.server_keys)?;
    let verified = unverified.verify(&key)?;
    let claims = check_result(&verified, &ResultChecks::from(policy))?;
    Ok(VerifiedResult { claims, sealed })
}

/// A result's JWS with its header checked (`typ`, `kid`) and the server key it names, found
/// in `server_keys` and validated: verify the signature with it, then [`check_result`].
pub fn result_to_verify(
    signed: &str,
    server_keys: &JwkSet,
) -> Result<(jws::UnverifiedJws, PublicKey), EnvelopeError> {
    let (unverified, jwk) = result_signer(signed, server_keys)?;
    let key = PublicKey::from_jwk(jwk)?;
    Ok((unverified, key))
}

/// [`result_to_verify`] without the key's validation: the JWS with its header checked and the
/// server's JWK it names, as found in `server_keys`. For a caller that keeps keys it validated
/// before ([`PublicKey::from_jwk`] is a function of the JWK alone).
pub fn result_signer<'k>(
    signed: &str,
    server_keys: &'k JwkSet,
) -> Result<(jws::UnverifiedJws, &'k Jwk), EnvelopeError> {
    let unverified = jws::decode(signed)?;
    check_typ(unverified.header().typ.as_deref(), RESULT_TYP)?;
    let kid = unverified
        .header()
        .kid
        .as_deref()
        .ok_or(EnvelopeError::MissingKeyId)?;
    let jwk = server_keys.find(kid).ok_or(EnvelopeError::UnknownKey)?;
    Ok((unverified, jwk))
}

/// The claims of a result whose signature verified: the schema, `iss`, `aud`, `iat` (not in
/// the future, not older than `max_age`) and `cmd`, in that order.
pub fn check_result(
    verified: &jws::Verified,
    checks: &ResultChecks<'_>,
) -> Result<ResultClaims, EnvelopeError> {
    let claims = ResultClaims::from_object(json::parse_object(verified.payload())?)?;
    claims.validate()?;
    if claims.iss != checks.issuer {
        return Err(EnvelopeError::WrongIssuer);
    }
    if !claims.aud.contains(checks.audience) {
        return Err(EnvelopeError::WrongAudience);
    }
    if claims.iat > checks.now.saturating_add(checks.leeway) {
        return Err(EnvelopeError::IssuedInFuture);
    }
    if let Some(max_age) = checks.max_age {
        if checks.now
            > claims
                .iat
                .saturating_add(max_age)
                .saturating_add(checks.leeway)
        {
            return Err(EnvelopeError::Expired);
        }
    }
    if let Some(command) = checks.command {
        if claims.cmd != command {
            return Err(EnvelopeError::CommandMismatch);
        }
    }
    Ok(claims)
}

/// A sealed envelope whose JWE header passed the checks, not yet decrypted.
#[derive(Clone, Debug)]
pub struct Sealed {
    /// The JWE: decrypt it with the private key named by `kid`.
    pub jwe: jwe::EncryptedJwe,
    /// The recipient key's id, from the JWE header.
    pub kid: String,
}

/// Decodes a sealed envelope (a compact JWE): the JOSE checks of [`jwe::decode`], and a `kid`
/// naming the recipient's key. Decrypt it, then [`unsealed`].
pub fn open_seal(token: &str) -> Result<Sealed, EnvelopeError> {
    let jwe = jwe::decode(token)?;
    let kid = jwe
        .header()
        .kid
        .clone()
        .ok_or(EnvelopeError::MissingKeyId)?;
    Ok(Sealed { jwe, kid })
}

/// The signed envelope inside a decrypted seal: `cty` must be `JWT` (RFC 7519 §5.2, compared
/// case-insensitively) and the plaintext UTF-8.
pub fn unsealed(decrypted: jwe::Decrypted) -> Result<String, EnvelopeError> {
    if !decrypted
        .header
        .cty
        .as_deref()
        .is_some_and(|cty| cty.eq_ignore_ascii_case(NESTED_CTY))
    {
        return Err(EnvelopeError::WrongContentType);
    }
    String::from_utf8(decrypted.plaintext)
        .map_err(|_| EnvelopeError::Jose(crate::jose::JoseError::InvalidUtf8))
}

/// Whether a compact token is sealed: a JWE has five parts, a JWS three (RFC 7516 §9).
pub fn is_sealed(token: &str) -> bool {
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

impl CommandClaims {
    /// Parses command claims from JSON text (a JSON object matching the envelope schema,
    /// without duplicate members), not yet [`validate`](CommandClaims::validate)d. Every
    /// failure, of JSON or of schema, is [`EnvelopeError::InvalidClaims`].
    pub fn from_json(text: &[u8]) -> Result<Self, EnvelopeError> {
        let object = json::parse_object(text)
            .map_err(|_| EnvelopeError::InvalidClaims("claims are not a JSON object"))?;
        Self::from_object(object)
    }
}

impl ResultClaims {
    /// Parses result claims from JSON text, not yet [`validate`](ResultClaims::validate)d;
    /// as [`CommandClaims::from_json`].
    pub fn from_json(text: &[u8]) -> Result<Self, EnvelopeError> {
        let object = json::parse_object(text)
            .map_err(|_| EnvelopeError::InvalidClaims("claims are not a JSON object"))?;
        Self::from_object(object)
    }
}
