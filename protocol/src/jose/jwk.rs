//! P-256 JSON Web Keys (RFC 7517, RFC 7518 §6.2) and their thumbprints (RFC 7638).
//!
//! [`Jwk`] is the wire form, as found in a JWKS or an `epk` header; [`PublicKey`] and
//! [`PrivateKey`] are validated keys. A key's `kid` is its RFC 7638 thumbprint unless the
//! publisher chose another.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use p256::ecdsa::SigningKey;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use p256::{EncodedPoint, SecretKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::json::{self, Object, ObjectWriter, Value};
use super::{JoseError, b64};

/// `kty` of an elliptic-curve key (RFC 7518 §6.1).
pub const KTY_EC: &str = "EC";
/// `crv` of NIST P-256 (RFC 7518 §6.2.1.1).
pub const CRV_P256: &str = "P-256";

/// The private scalar `d` of a JWK, in base64url. Zeroized on drop, redacted in `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct JwkSecret(String);

impl JwkSecret {
    /// The base64url text of the private scalar.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl PartialEq for JwkSecret {
    /// Constant-time comparison of the encoded scalars.
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.len() == other.0.len() && bool::from(self.0.as_bytes().ct_eq(other.0.as_bytes()))
    }
}

impl Eq for JwkSecret {}

impl fmt::Debug for JwkSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwkSecret(..)")
    }
}

/// A JSON Web Key as it travels (RFC 7517 §4, RFC 7518 §6.2).
///
/// Only the members this profile uses are kept; others are ignored on input. Members other
/// than `kty` are optional here so that a JWKS holding keys of other types still parses; use
/// [`PublicKey::from_jwk`] or [`PrivateKey::from_jwk`] to validate one. Parse untrusted text
/// with [`Jwk::from_json`], which refuses duplicate members.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Jwk {
    /// Key type; `"EC"` for every key this profile accepts.
    pub kty: String,
    /// Curve; `"P-256"`.
    pub crv: Option<String>,
    /// Affine x coordinate, 32 bytes big-endian, base64url.
    pub x: Option<String>,
    /// Affine y coordinate, 32 bytes big-endian, base64url.
    pub y: Option<String>,
    /// Private scalar, 32 bytes big-endian, base64url; present only in private keys.
    pub d: Option<JwkSecret>,
    /// Key id; by default the RFC 7638 thumbprint.
    pub kid: Option<String>,
    /// Intended use: `"sig"` or `"enc"` (RFC 7517 §4.2).
    pub use_: Option<String>,
    /// Intended algorithm (RFC 7517 §4.4).
    pub alg: Option<String>,
    /// Permitted operations (RFC 7517 §4.3).
    pub key_ops: Option<Vec<String>>,
}

impl Jwk {
    /// Parses one JWK from JSON, refusing duplicate members at any depth.
    pub fn from_json(bytes: &[u8]) -> Result<Self, JoseError> {
        Self::from_object(json::parse_object(bytes)?)
    }

    /// Reads a JWK from a parsed object: `kty` a string; `crv`, `x`, `y`, `d`, `kid`, `use`
    /// and `alg` strings when present (`null` counts as absent); `key_ops` an array of strings;
    /// other members ignored (RFC 7517 §4).
    pub(crate) fn from_object(mut object: Object) -> Result<Self, JoseError> {
        let mut text = |name: &str| -> Result<Option<String>, JoseError> {
            match object.remove(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(JoseError::InvalidKey),
            }
        };
        let kty = text("kty")?.ok_or(JoseError::InvalidKey)?;
        let crv = text("crv")?;
        let x = text("x")?;
        let y = text("y")?;
        let d = text("d")?.map(JwkSecret);
        let kid = text("kid")?;
        let use_ = text("use")?;
        let alg = text("alg")?;
        let key_ops = match object.remove("key_ops") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .into_iter()
                    .map(|item| match item {
                        Value::String(s) => Ok(s),
                        _ => Err(JoseError::InvalidKey),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => return Err(JoseError::InvalidKey),
        };
        Ok(Self {
            kty,
            crv,
            x,
            y,
            d,
            kid,
            use_,
            alg,
            key_ops,
        })
    }

    /// Compact JSON text of this JWK, members in a fixed order. Includes `d` when present.
    pub fn to_json(&self) -> String {
        let mut w = ObjectWriter::new();
        w.string("kty", &self.kty)
            .optional_string("crv", self.crv.as_deref())
            .optional_string("x", self.x.as_deref())
            .optional_string("y", self.y.as_deref())
            .optional_string("d", self.d.as_ref().map(JwkSecret::expose))
            .optional_string("kid", self.kid.as_deref())
            .optional_string("use", self.use_.as_deref())
            .optional_string("alg", self.alg.as_deref());
        if let Some(ops) = &self.key_ops {
            let mut list = String::from("[");
            for (i, op) in ops.iter().enumerate() {
                if i > 0 {
                    list.push(',');
                }
                json::write_string(&mut list, op);
            }
            list.push(']');
            w.raw("key_ops", &list);
        }
        w.finish()
    }

    /// This JWK without its private member `d`.
    pub fn to_public(&self) -> Jwk {
        Jwk {
            kty: self.kty.clone(),
            crv: self.crv.clone(),
            x: self.x.clone(),
            y: self.y.clone(),
            d: None,
            kid: self.kid.clone(),
            use_: self.use_.clone(),
            alg: self.alg.clone(),
            key_ops: self.key_ops.clone(),
        }
    }

    /// The key id: `kid` when present, otherwise the RFC 7638 thumbprint of a valid P-256 key.
    pub fn effective_kid(&self) -> Option<String> {
        match &self.kid {
            Some(kid) => Some(kid.clone()),
            None => public_from_members(self).ok().map(|k| k.thumbprint()),
        }
    }
}

/// A JWK Set (RFC 7517 §5), as published at `/.well-known/jwks.json`.
#[derive(Clone, Debug, Default)]
pub struct JwkSet {
    /// The keys, in publication order.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// Parses a JWK Set from JSON, refusing duplicate members at any depth.
    pub fn from_json(bytes: &[u8]) -> Result<Self, JoseError> {
        let mut object = json::parse_object(bytes)?;
        let Some(Value::Array(keys)) = object.remove("keys") else {
            return Err(JoseError::InvalidKey);
        };
        let keys = keys
            .into_iter()
            .map(|key| match key {
                Value::Object(key) => Jwk::from_object(key),
                _ => Err(JoseError::InvalidKey),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// Compact JSON text of the set. Private members are included if present: publish only
    /// sets built from public keys.
    pub fn to_json(&self) -> String {
        let mut keys = String::from("[");
        for (i, key) in self.keys.iter().enumerate() {
            if i > 0 {
                keys.push(',');
            }
            keys.push_str(&key.to_json());
        }
        keys.push(']');
        let mut w = ObjectWriter::new();
        w.raw("keys", &keys);
        w.finish()
    }

    /// The first key whose [`effective_kid`](Jwk::effective_kid) is `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid))
            .or_else(|| {
                self.keys
                    .iter()
                    .filter(|k| k.kid.is_none())
                    .find(|k| k.effective_kid().as_deref() == Some(kid))
            })
    }

    /// The validated P-256 public key named `kid`, or `None` when the set has no such key.
    pub fn public_key(&self, kid: &str) -> Option<Result<PublicKey, JoseError>> {
        self.find(kid).map(PublicKey::from_jwk)
    }
}

/// A validated P-256 public key: on the curve, not the identity.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(p256::PublicKey);

impl PublicKey {
    /// Validates a public EC JWK: `kty` `"EC"`, `crv` `"P-256"`, `x` and `y` exactly 32 bytes
    /// of strict base64url, the point on the curve (RFC 7518 §6.2.1, RFC 8725 §3.4). A JWK that
    /// carries `d` is refused: a private key where a public one is expected is a mistake.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, JoseError> {
        if jwk.d.is_some() {
            return Err(JoseError::InvalidKey);
        }
        public_from_members(jwk)
    }

    /// Parses a SEC1 point (uncompressed `04‖x‖y` or compressed), refusing the identity.
    pub fn from_sec1_bytes(bytes: &[u8]) -> Result<Self, JoseError> {
        p256::PublicKey::from_sec1_bytes(bytes)
            .map(Self)
            .map_err(|_| JoseError::InvalidKey)
    }

    /// The uncompressed SEC1 encoding `04‖x‖y`.
    pub fn to_sec1_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out.copy_from_slice(self.0.to_encoded_point(false).as_bytes());
        out
    }

    /// The public JWK, with `kid` set to the thumbprint.
    pub fn to_jwk(&self) -> Jwk {
        let (x, y) = self.coordinates_b64();
        let kid = thumbprint_of(&x, &y);
        Jwk {
            kty: KTY_EC.into(),
            crv: Some(CRV_P256.into()),
            x: Some(x),
            y: Some(y),
            kid: Some(kid),
            ..Jwk::default()
        }
    }

    /// The RFC 7638 JWK thumbprint: SHA-256 over `{"crv","kty","x","y"}` in that order,
    /// base64url.
    pub fn thumbprint(&self) -> String {
        let (x, y) = self.coordinates_b64();
        thumbprint_of(&x, &y)
    }

    /// The underlying `p256` key.
    pub fn as_p256(&self) -> &p256::PublicKey {
        &self.0
    }

    /// Whether `signature` (`R‖S`) is a valid ES256 signature of `message` under this key
    /// (RFC 7518 §3.4). High-S signatures are accepted.
    pub fn verify_es256(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        p256::ecdsa::Signature::from_slice(signature)
            .is_ok_and(|signature| super::ec::verify(self, message, &signature))
    }

    pub(crate) fn coordinates_b64(&self) -> (String, String) {
        let point = self.0.to_encoded_point(false);
        let bytes = point.as_bytes();
        // Uncompressed SEC1: 04 ‖ x (32) ‖ y (32).
        (b64::encode(&bytes[1..33]), b64::encode(&bytes[33..65]))
    }
}

impl From<p256::PublicKey> for PublicKey {
    fn from(key: p256::PublicKey) -> Self {
        Self(key)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (x, y) = self.coordinates_b64();
        f.debug_struct("PublicKey")
            .field("x", &x)
            .field("y", &y)
            .finish()
    }
}

fn thumbprint_of(x: &str, y: &str) -> String {
    // RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
    let mut w = ObjectWriter::new();
    w.string("crv", CRV_P256)
        .string("kty", KTY_EC)
        .string("x", x)
        .string("y", y);
    b64::encode(&Sha256::digest(w.finish().as_bytes()))
}

/// Validates the public members of an EC JWK, ignoring `d`.
fn public_from_members(jwk: &Jwk) -> Result<PublicKey, JoseError> {
    if jwk.kty != KTY_EC || jwk.crv.as_deref() != Some(CRV_P256) {
        return Err(JoseError::InvalidKey);
    }
    let coordinate = |c: &Option<String>| -> Result<[u8; 32], JoseError> {
        let text = c.as_deref().ok_or(JoseError::InvalidKey)?;
        b64::decode_array::<32>(text)
            .ok()
            .flatten()
            .ok_or(JoseError::InvalidKey)
    };
    let x = coordinate(&jwk.x)?;
    let y = coordinate(&jwk.y)?;
    let point = EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
    Option::<p256::PublicKey>::from(p256::PublicKey::from_encoded_point(&point))
        .map(PublicKey)
        .ok_or(JoseError::InvalidKey)
}

/// Validates an `epk` header value (RFC 7518 §4.6.1.1): a public P-256 JWK, nothing else.
pub(crate) fn epk_from_value(value: &Value) -> Result<PublicKey, JoseError> {
    let Value::Object(object) = value else {
        return Err(JoseError::InvalidEpk);
    };
    let jwk = Jwk::from_object(object.clone()).map_err(|_| JoseError::InvalidEpk)?;
    PublicKey::from_jwk(&jwk).map_err(|_| JoseError::InvalidEpk)
}

/// A P-256 private key, used for ES256 signing or ECDH-ES key agreement.
///
/// Zeroized on drop (by `p256`), redacted in `Debug`; deliberately neither `Clone` nor
/// `Serialize`. Export it with [`PrivateKey::to_jwk`], explicitly.
pub struct PrivateKey(SigningKey);

impl PrivateKey {
    /// Generates a fresh key from `rng`.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self(SigningKey::random(rng))
    }

    /// Parses a 32-byte big-endian private scalar, refusing 0 and values ≥ the group order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, JoseError> {
        SecretKey::from_bytes(bytes.into())
            .map(|k| Self(SigningKey::from(k)))
            .map_err(|_| JoseError::InvalidKey)
    }

    /// Validates a private EC JWK: the public members as in [`PublicKey::from_jwk`], `d`
    /// exactly 32 bytes in range, and `d·G` equal to (`x`, `y`).
    ///
    /// [`UncheckedPrivateKey::from_jwk`] then [`UncheckedPrivateKey::check`]; use those two
    /// halves directly when the last check (a scalar multiplication) is done elsewhere.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, JoseError> {
        UncheckedPrivateKey::from_jwk(jwk)?.check()
    }

    /// The private JWK, including `d`, with `kid` set to the thumbprint. Handle with care.
    pub fn to_jwk(&self) -> Jwk {
        let mut jwk = self.public_key().to_jwk();
        let scalar = Zeroizing::new(self.0.to_bytes());
        jwk.d = Some(JwkSecret(b64::encode(&scalar)));
        jwk
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(p256::PublicKey::from(self.0.verifying_key()))
    }

    /// ES256 (RFC 7518 §3.4): ECDSA on P-256 with SHA-256 over `message`, nonces by RFC 6979
    /// (deterministic), the signature as `R‖S`.
    pub fn sign_es256(&self, message: &[u8]) -> [u8; 64] {
        super::ec::sign(&self.0, message).to_bytes().into()
    }

    /// The underlying `p256` signing key (for the tests that compare with `p256`).
    #[cfg(test)]
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.0
    }

    /// ECDH with `peer` (RFC 7518 §4.6.2): Z, the x coordinate of d·Q. Zeroized on drop.
    pub fn shared_secret(&self, peer: &PublicKey) -> Zeroizing<[u8; 32]> {
        let z = p256::ecdh::diffie_hellman(self.0.as_nonzero_scalar(), peer.0.as_affine());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(z.raw_secret_bytes());
        out
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("kid", &self.public_key().thumbprint())
            .finish_non_exhaustive()
    }
}

/// A private P-256 JWK whose members passed every check but the last: its public point is
/// on the curve, its `d` is 32 bytes in `[1, n-1]`, but `d·G = (x, y)` has not been checked.
///
/// The first half of [`PrivateKey::from_jwk`], for a caller whose elliptic-curve arithmetic
/// runs elsewhere (the npm package hands it to WebCrypto): it imports the key from
/// [`to_jwk`](Self::to_jwk), checks that the pair matches, and reports the outcome to
/// [`confirm`](Self::confirm). [`check`](Self::check) does that check here.
///
/// The scalar is zeroized on drop and redacted in `Debug`.
pub struct UncheckedPrivateKey {
    public: PublicKey,
    d: Zeroizing<[u8; 32]>,
}

impl UncheckedPrivateKey {
    /// Validates a private EC JWK's members, as [`PrivateKey::from_jwk`] does, except the
    /// match of `d` with `x`/`y`.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, JoseError> {
        let public = public_from_members(jwk)?;
        let d = jwk.d.as_ref().ok_or(JoseError::InvalidKey)?;
        let d = Zeroizing::new(
            b64::decode_array::<32>(d.expose())
                .ok()
                .flatten()
                .ok_or(JoseError::InvalidKey)?,
        );
        // 0 < d < n, without building a key (which would compute d·G).
        let in_range: bool =
            p256::NonZeroScalar::from_repr(p256::FieldBytes::clone_from_slice(d.as_slice()))
                .is_some()
                .into();
        if !in_range {
            return Err(JoseError::InvalidKey);
        }
        Ok(Self { public, d })
    }

    /// The public key the JWK claims (`x`, `y`), validated.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The private JWK with only the members a key import needs: `kty`, `crv`, `x`, `y`,
    /// `d`, in that order. Handle with care.
    pub fn to_jwk(&self) -> Jwk {
        let (x, y) = self.public.coordinates_b64();
        Jwk {
            kty: KTY_EC.into(),
            crv: Some(CRV_P256.into()),
            x: Some(x),
            y: Some(y),
            d: Some(JwkSecret(b64::encode(self.d.as_slice()))),
            ..Jwk::default()
        }
    }

    /// The second half, done elsewhere: `pair_matches` is whether `d·G` equals the claimed
    /// public key; `false` is [`JoseError::KeyMismatch`].
    pub fn confirm(&self, pair_matches: bool) -> Result<(), JoseError> {
        if pair_matches {
            Ok(())
        } else {
            Err(JoseError::KeyMismatch)
        }
    }

    /// The second half, done here: computes `d·G` and compares it with the claimed public key.
    pub fn check(&self) -> Result<PrivateKey, JoseError> {
        let key = PrivateKey::from_bytes(&self.d)?;
        self.confirm(key.public_key() == self.public)?;
        Ok(key)
    }
}

impl fmt::Debug for UncheckedPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UncheckedPrivateKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

super::json::serde_via_json!(Jwk, Jwk::to_json, |v| match v {
    Value::Object(object) => Jwk::from_object(object),
    _ => Err(JoseError::InvalidKey),
});
super::json::serde_via_json!(JwkSet, JwkSet::to_json, |v: Value| {
    JwkSet::from_json(v.to_json().as_bytes())
});
