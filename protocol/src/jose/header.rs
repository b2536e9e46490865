//! JOSE header parameters shared by JWS and JWE (RFC 7515 §4, RFC 7516 §4).

use alloc::string::String;

use super::JoseError;
use super::json::{Object, ObjectWriter, Value};

/// The caller-chosen parameters of a protected header we produce.
///
/// `alg` (and for JWE `enc`, `epk`) are set by [`jws::sign`](super::jws::sign) and
/// [`jwe::encrypt`](super::jwe::encrypt); nothing else is ever written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderParams {
    /// `typ`, the media type of the whole object (RFC 7515 §4.1.9), e.g.
    /// `"kazashi-command+jwt"`.
    pub typ: Option<String>,
    /// `kid`, naming the key (RFC 7515 §4.1.4); by convention its RFC 7638 thumbprint.
    pub kid: Option<String>,
    /// `cty`, the media type of the payload (RFC 7515 §4.1.10), e.g. `"JWT"` for a nested token.
    pub cty: Option<String>,
}

impl HeaderParams {
    /// No optional parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `typ`.
    pub fn with_typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// Sets `kid`.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Sets `cty`.
    pub fn with_cty(mut self, cty: impl Into<String>) -> Self {
        self.cty = Some(cty.into());
        self
    }

    pub(crate) fn write(&self, w: &mut ObjectWriter) {
        w.optional_string("typ", self.typ.as_deref())
            .optional_string("cty", self.cty.as_deref())
            .optional_string("kid", self.kid.as_deref());
    }

    /// Reads `typ`, `kid` and `cty` from a parsed header, each optional but a string if present.
    pub(crate) fn read(header: &Object) -> Result<Self, JoseError> {
        Ok(Self {
            typ: optional_str(header, "typ")?.map(String::from),
            kid: optional_str(header, "kid")?.map(String::from),
            cty: optional_str(header, "cty")?.map(String::from),
        })
    }
}

/// A header parameter that must be a string when present.
pub(crate) fn optional_str<'a>(
    header: &'a Object,
    name: &'static str,
) -> Result<Option<&'a str>, JoseError> {
    match header.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JoseError::InvalidHeader(name)),
    }
}

/// A header parameter that must be present and a string.
pub(crate) fn required_str<'a>(
    header: &'a Object,
    name: &'static str,
) -> Result<&'a str, JoseError> {
    optional_str(header, name)?.ok_or(JoseError::MissingHeader(name))
}

/// The checks every protected header passes, after `alg`.
///
/// - `crit` (RFC 7515 §4.1.11): this profile understands no extension, so any well-formed
///   `crit` is refused as [`JoseError::UnknownCritical`]; a malformed one (not a non-empty array
///   of strings) as [`JoseError::InvalidHeader`].
/// - `zip` (RFC 7516 §4.1.3): refused whatever its value (RFC 8725 §3.6).
/// - `b64` (RFC 7797 §3): `false` is refused; `true` is the default and harmless.
pub(crate) fn check_common(header: &Object) -> Result<(), JoseError> {
    if let Some(crit) = header.get("crit") {
        return match crit {
            Value::Array(names) if !names.is_empty() && names.iter().all(|n| n.is_string()) => {
                Err(JoseError::UnknownCritical)
            }
            _ => Err(JoseError::InvalidHeader("crit")),
        };
    }
    if header.contains_key("zip") {
        return Err(JoseError::ZipNotSupported);
    }
    match header.get("b64") {
        None | Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return Err(JoseError::UnencodedPayload),
        Some(_) => return Err(JoseError::InvalidHeader("b64")),
    }
    Ok(())
}
