//! The COSE profile of 18013-5 (§9.1.5.2 cipher suite 1, §9.1.3): P-256 `COSE_Key`s,
//! `COSE_Sign1` with ES256 and `x5chain`, `COSE_Mac0` with HMAC 256/256. Built on [`coset`].

use alloc::vec;
use alloc::vec::Vec;

use ciborium::value::Value;
use coset::{
    CborSerializable, CoseKey, CoseMac0, CoseMac0Builder, CoseSign1, CoseSign1Builder,
    HeaderBuilder, Label, RegisteredLabel, RegisteredLabelWithPrivate, TaggedCborSerializable,
    iana,
};
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use p256::{EncodedPoint, PublicKey};
use sha2::Sha256;

use super::cbor;
use super::error::OfflineError;

/// The COSE header label of `x5chain` (RFC 9360 §2).
pub const X5CHAIN: i64 = 33;

/// Longest certificate chain accepted in `x5chain`.
pub const MAX_CHAIN_LEN: usize = 4;

/// A P-256 public key as a `COSE_Key` (RFC 9053 §7.1.1): `{1: 2, -1: 1, -2: x, -3: y}`.
pub fn encode_key(key: &PublicKey) -> Vec<u8> {
    let point = key.to_encoded_point(false);
    // An uncompressed point of a valid public key always has both coordinates.
    let x = point.x().map(|x| x.to_vec()).unwrap_or_default();
    let y = point.y().map(|y| y.to_vec()).unwrap_or_default();
    let cose = CoseKey {
        kty: RegisteredLabel::Assigned(iana::KeyType::EC2),
        params: vec![
            (
                Label::Int(iana::Ec2KeyParameter::Crv as i64),
                cbor::int_value(iana::EllipticCurve::P_256 as i64),
            ),
            (Label::Int(iana::Ec2KeyParameter::X as i64), Value::Bytes(x)),
            (Label::Int(iana::Ec2KeyParameter::Y as i64), Value::Bytes(y)),
        ],
        ..Default::default()
    };
    cose.to_vec().unwrap_or_default()
}

/// Parses a `COSE_Key` that must be an EC2 P-256 public key with both coordinates.
pub fn decode_key(raw: &[u8]) -> Result<PublicKey, OfflineError> {
    cbor::check_one(raw)?;
    let key = CoseKey::from_slice(raw).map_err(|_| OfflineError::InvalidKey)?;
    if key.kty != RegisteredLabel::Assigned(iana::KeyType::EC2) {
        return Err(OfflineError::InvalidKey);
    }
    let param = |label: iana::Ec2KeyParameter| {
        key.params
            .iter()
            .find(|(l, _)| *l == Label::Int(label as i64))
            .map(|(_, v)| v)
    };
    let crv = param(iana::Ec2KeyParameter::Crv).and_then(Value::as_integer);
    if crv != Some((iana::EllipticCurve::P_256 as i64).into()) {
        return Err(OfflineError::InvalidKey);
    }
    let coordinate = |label| match param(label) {
        Some(Value::Bytes(b)) if b.len() == 32 => Ok(p256::FieldBytes::clone_from_slice(b)),
        _ => Err(OfflineError::InvalidKey),
    };
    let x = coordinate(iana::Ec2KeyParameter::X)?;
    let y = coordinate(iana::Ec2KeyParameter::Y)?;
    let point = EncodedPoint::from_affine_coordinates(&x, &y, false);
    Option::from(PublicKey::from_encoded_point(&point)).ok_or(OfflineError::InvalidKey)
}

fn parse_structure<T: CborSerializable + TaggedCborSerializable>(
    raw: &[u8],
    what: &'static str,
) -> Result<T, OfflineError> {
    cbor::check_one(raw)?;
    // 18013-5 uses the untagged forms; the tagged ones (RFC 9052 §2) are accepted too.
    T::from_slice(raw)
        .or_else(|_| T::from_tagged_slice(raw))
        .map_err(|_| OfflineError::InvalidField(what))
}

/// Parses a `COSE_Sign1` (untagged or tagged 18).
pub fn parse_sign1(raw: &[u8], what: &'static str) -> Result<CoseSign1, OfflineError> {
    parse_structure(raw, what)
}

/// Parses a `COSE_Mac0` (untagged or tagged 17).
pub fn parse_mac0(raw: &[u8], what: &'static str) -> Result<CoseMac0, OfflineError> {
    parse_structure(raw, what)
}

/// Checks that a `COSE_Sign1` is ES256 (protected `alg` -7), and refuses `crit`.
pub fn check_es256(sign1: &CoseSign1) -> Result<(), OfflineError> {
    let header = &sign1.protected.header;
    if header.alg != Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256))
        || !header.crit.is_empty()
    {
        return Err(OfflineError::UnsupportedAlgorithm);
    }
    Ok(())
}

/// The certificates of `x5chain` (RFC 9360 §2: one bstr, or an array of them), from the
/// unprotected or the protected header, leaf first.
pub fn x5chain(sign1: &CoseSign1) -> Result<Vec<Vec<u8>>, OfflineError> {
    let label = Label::Int(X5CHAIN);
    let found = sign1
        .unprotected
        .rest
        .iter()
        .chain(sign1.protected.header.rest.iter())
        .find(|(l, _)| *l == label)
        .map(|(_, v)| v)
        .ok_or(OfflineError::MissingField("x5chain"))?;
    let chain = match found {
        Value::Bytes(der) => vec![der.clone()],
        Value::Array(items) if !items.is_empty() && items.len() <= MAX_CHAIN_LEN => items
            .iter()
            .map(|item| match item {
                Value::Bytes(der) => Ok(der.clone()),
                _ => Err(OfflineError::InvalidField("x5chain")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(OfflineError::InvalidField("x5chain")),
    };
    Ok(chain)
}

/// Verifies an ES256 signature (64 bytes `r ‖ s`, RFC 9053 §2.1) over `tbs`.
pub fn verify_es256(key: &PublicKey, tbs: &[u8], signature: &[u8]) -> bool {
    let Ok(signature) = Signature::from_slice(signature) else {
        return false;
    };
    VerifyingKey::from(key).verify(tbs, &signature).is_ok()
}

/// The ES256 protected header `{1: -7}`.
fn es256_protected() -> coset::Header {
    HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES256)
        .build()
}

/// The unprotected header carrying `x5chain` (a bstr for one certificate, else an array).
fn x5chain_header(chain: &[Vec<u8>]) -> coset::Header {
    let value = match chain {
        [one] => Value::Bytes(one.clone()),
        many => Value::Array(many.iter().cloned().map(Value::Bytes).collect()),
    };
    HeaderBuilder::new().value(X5CHAIN, value).build()
}

/// A `COSE_Sign1` ES256 over a detached payload, optionally with `x5chain`, encoded.
pub fn sign1_detached(key: &SigningKey, payload: &[u8], chain: &[Vec<u8>]) -> CoseSign1 {
    let mut builder = CoseSign1Builder::new().protected(es256_protected());
    if !chain.is_empty() {
        builder = builder.unprotected(x5chain_header(chain));
    }
    builder
        .create_detached_signature(payload, &[], |tbs| {
            let signature: Signature = key.sign(tbs);
            signature.to_vec()
        })
        .build()
}

/// A `COSE_Sign1` ES256 with an attached payload and `x5chain`.
pub fn sign1_attached(key: &SigningKey, payload: Vec<u8>, chain: &[Vec<u8>]) -> CoseSign1 {
    CoseSign1Builder::new()
        .protected(es256_protected())
        .unprotected(x5chain_header(chain))
        .payload(payload)
        .create_signature(&[], |tbs| {
            let signature: Signature = key.sign(tbs);
            signature.to_vec()
        })
        .build()
}

/// The `Sig_structure` (RFC 9052 §4.4) of a `COSE_Sign1` ES256 over a detached payload: what a
/// signer outside this crate (a secure element) signs.
pub fn sign1_detached_tbs(payload: &[u8]) -> Vec<u8> {
    coset::sig_structure_data(
        coset::SignatureContext::CoseSign1,
        coset::ProtectedHeader {
            original_data: None,
            header: es256_protected(),
        },
        None,
        &[],
        payload,
    )
}

/// A `COSE_Sign1` ES256 over a detached payload from a signature made elsewhere over
/// [`sign1_detached_tbs`].
pub fn sign1_from_signature(signature: &Signature) -> CoseSign1 {
    CoseSign1Builder::new()
        .protected(es256_protected())
        .signature(signature.to_vec())
        .build()
}

/// Encodes a COSE structure (infallible for the structures this module builds).
pub fn encode<T: CborSerializable>(structure: T) -> Vec<u8> {
    structure.to_vec().unwrap_or_default()
}

/// Checks that a `COSE_Mac0` is HMAC 256/256 (protected `alg` 5), and refuses `crit`.
pub fn check_hmac256(mac0: &CoseMac0) -> Result<(), OfflineError> {
    let header = &mac0.protected.header;
    if header.alg
        != Some(RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::HMAC_256_256,
        ))
        || !header.crit.is_empty()
    {
        return Err(OfflineError::UnsupportedAlgorithm);
    }
    Ok(())
}

/// The `MAC_structure` (RFC 9052 §6.3) of a `COSE_Mac0` over a detached payload.
pub fn mac0_tbm(mac0: &CoseMac0, payload: &[u8]) -> Vec<u8> {
    coset::mac_structure_data(
        coset::MacContext::CoseMac0,
        mac0.protected.clone(),
        &[],
        payload,
    )
}

/// A `COSE_Mac0` HMAC 256/256 over a detached payload.
pub fn mac0_detached(key: &[u8; 32], payload: &[u8]) -> CoseMac0 {
    let mac0 = CoseMac0Builder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::HMAC_256_256)
                .build(),
        )
        .build();
    let tag = hmac_sha256(key, &mac0_tbm(&mac0, payload));
    CoseMac0 {
        tag: tag.to_vec(),
        ..mac0
    }
}

/// HMAC-SHA-256.
pub(crate) fn hmac_sha256(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Verifies an HMAC-SHA-256 tag in constant time.
pub(crate) fn verify_hmac_sha256(key: &[u8; 32], data: &[u8], tag: &[u8]) -> bool {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return false;
    };
    mac.update(data);
    mac.verify_slice(tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn key_round_trip_and_refusals() {
        let key = p256::SecretKey::random(&mut OsRng).public_key();
        let raw = encode_key(&key);
        assert_eq!(&raw[..6], &[0xA4, 0x01, 0x02, 0x20, 0x01, 0x21]);
        assert_eq!(decode_key(&raw), Ok(key));
        // kty OKP, curve P-384, short coordinate, point off the curve, compressed y.
        let mut okp = raw.clone();
        okp[2] = 0x01;
        assert_eq!(decode_key(&okp), Err(OfflineError::InvalidKey));
        let mut p384 = raw.clone();
        p384[4] = 0x02;
        assert_eq!(decode_key(&p384), Err(OfflineError::InvalidKey));
        let mut off_curve = raw.clone();
        let last = off_curve.len() - 1;
        off_curve[last] ^= 1;
        assert_eq!(decode_key(&off_curve), Err(OfflineError::InvalidKey));
        let mut compressed = raw[..raw.len() - 35].to_vec();
        compressed.extend_from_slice(&[0x22, 0xF5]);
        assert_eq!(decode_key(&compressed), Err(OfflineError::InvalidKey));
    }

    #[test]
    fn detached_sign1_from_an_external_signature_verifies() {
        let signing = SigningKey::random(&mut OsRng);
        let public = PublicKey::from(signing.verifying_key());
        let tbs = sign1_detached_tbs(b"payload");
        let signature: Signature = signing.sign(&tbs);
        let sign1 = sign1_from_signature(&signature);
        let again = parse_sign1(&encode(sign1), "s").unwrap();
        check_es256(&again).unwrap();
        assert!(verify_es256(
            &public,
            &again.tbs_detached_data(b"payload", &[]),
            &again.signature
        ));
        assert!(!verify_es256(
            &public,
            &again.tbs_detached_data(b"payloaD", &[]),
            &again.signature
        ));
        // The in-crate signer produces the same structure.
        let direct = sign1_detached(&signing, b"payload", &[]);
        assert!(verify_es256(
            &public,
            &direct.tbs_detached_data(b"payload", &[]),
            &direct.signature
        ));
    }

    #[test]
    fn mac0_verifies_and_refuses_a_changed_payload() {
        let key = [7u8; 32];
        let mac0 = mac0_detached(&key, b"payload");
        let again = parse_mac0(&encode(mac0), "m").unwrap();
        check_hmac256(&again).unwrap();
        assert!(verify_hmac_sha256(
            &key,
            &mac0_tbm(&again, b"payload"),
            &again.tag
        ));
        assert!(!verify_hmac_sha256(
            &key,
            &mac0_tbm(&again, b"payloaD"),
            &again.tag
        ));
    }
}
