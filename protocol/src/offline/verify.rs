//! The reader's checks of a returned document (18013-5 §9.3.1): issuer authentication (the
//! document signer chains to the trust list and signed the MSO), the digests of the
//! disclosed items, the document type, the validity period, and device authentication by
//! signature or by MAC.
//!
//! A [`VerifiedDocument`] can only be built by [`verify_document`], after every check.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use ciborium::value::Value;
use p256::{PublicKey, SecretKey};
use subtle::ConstantTimeEq;

use super::cbor;
use super::cose;
use super::crypto;
use super::error::OfflineError;
use super::mso::{MobileSecurityObject, ValidityInfo};
use super::pki::{Certificate, TrustList, Usage};
use super::response::{DeviceAuth, Document, IssuerSigned};
use super::transcript::SessionTranscript;

/// `DeviceAuthenticationBytes` (§9.1.3.4): `#6.24(bstr .cbor ["DeviceAuthentication",
/// SessionTranscript, DocType, DeviceNameSpacesBytes])`, the detached payload of device
/// authentication.
pub fn device_authentication_bytes(
    transcript: &SessionTranscript,
    doc_type: &str,
    device_name_spaces_bytes: &[u8],
) -> Vec<u8> {
    let mut array = vec![0x84];
    array.extend(cbor::encode(&cbor::tstr("DeviceAuthentication")));
    array.extend_from_slice(transcript.as_bytes());
    array.extend(cbor::encode(&cbor::tstr(doc_type)));
    array.extend_from_slice(device_name_spaces_bytes);
    cbor::wrap_tag24(&array)
}

/// Proof that an MSO's signature was verified against a trusted document signer.
#[derive(Clone, Debug)]
pub struct IssuerAuthVerified {
    mso: MobileSecurityObject,
    signer: Certificate,
}

impl IssuerAuthVerified {
    /// The verified MSO.
    pub fn mso(&self) -> &MobileSecurityObject {
        &self.mso
    }

    /// The document signer certificate.
    pub fn signer(&self) -> &Certificate {
        &self.signer
    }
}

/// Verifies `issuerAuth` (§9.3.1 steps 1–2): the `x5chain` leads to `trust` for document
/// signing at `now`, the leaf's key verifies the ES256 signature over the MSO, and the MSO
/// was signed while the certificate was valid. The MSO's own validity is checked by
/// [`ValidityInfo::check`] (step 5, done by [`verify_document`]).
pub fn verify_issuer_auth(
    issuer_signed: &IssuerSigned,
    trust: &TrustList,
    now: u64,
) -> Result<IssuerAuthVerified, OfflineError> {
    let sign1 = cose::parse_sign1(&issuer_signed.issuer_auth, "issuerAuth")?;
    cose::check_es256(&sign1)?;
    let payload = sign1
        .payload
        .as_deref()
        .ok_or(OfflineError::MissingField("MobileSecurityObjectBytes"))?;
    let signer = trust.verify_chain(&cose::x5chain(&sign1)?, Usage::DocumentSigner, now)?;
    if !cose::verify_es256(signer.public_key(), &sign1.tbs_data(&[]), &sign1.signature) {
        return Err(OfflineError::InvalidIssuerSignature);
    }
    let mso = MobileSecurityObject::parse(cbor::tag24(payload, "MobileSecurityObjectBytes")?)?;
    if mso.validity.signed < signer.not_before() || mso.validity.signed > signer.not_after() {
        return Err(OfflineError::MsoSignedOutsideCertificate);
    }
    Ok(IssuerAuthVerified { mso, signer })
}

/// Checks every disclosed item against the MSO's digests (§9.3.1 step 3).
pub fn check_digests(
    issuer_signed: &IssuerSigned,
    mso: &MobileSecurityObject,
) -> Result<(), OfflineError> {
    for (ns, items) in &issuer_signed.name_spaces {
        for item in items {
            let expected = mso
                .digest(ns, item.digest_id)
                .ok_or(OfflineError::DigestMissing)?;
            if !bool::from(expected.ct_eq(&item.digest())) {
                return Err(OfflineError::DigestMismatch);
            }
        }
    }
    Ok(())
}

/// How the mdoc proved possession of its device key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceAuthKind {
    /// `deviceSignature` (ECDSA).
    Signature,
    /// `deviceMac` (ECDH and HMAC with the reader's ephemeral key).
    Mac,
}

impl DeviceAuthKind {
    /// `"signature"` or `"mac"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceAuthKind::Signature => "signature",
            DeviceAuthKind::Mac => "mac",
        }
    }
}

/// Verifies device authentication (§9.1.3) with the MSO's device key. The MAC needs the
/// reader's ephemeral private key.
pub fn verify_device_auth(
    document: &Document,
    device_key: &PublicKey,
    transcript: &SessionTranscript,
    e_reader_key: &SecretKey,
) -> Result<DeviceAuthKind, OfflineError> {
    let payload = device_authentication_bytes(
        transcript,
        &document.doc_type,
        &document.device_signed.name_spaces_bytes,
    );
    match &document.device_signed.device_auth {
        DeviceAuth::Signature(raw) => {
            let sign1 = cose::parse_sign1(raw, "deviceSignature")?;
            cose::check_es256(&sign1)?;
            if sign1.payload.is_some() {
                return Err(OfflineError::InvalidField("deviceSignature"));
            }
            let tbs = sign1.tbs_detached_data(&payload, &[]);
            if !cose::verify_es256(device_key, &tbs, &sign1.signature) {
                return Err(OfflineError::InvalidDeviceSignature);
            }
            Ok(DeviceAuthKind::Signature)
        }
        DeviceAuth::Mac(raw) => {
            let mac0 = cose::parse_mac0(raw, "deviceMac")?;
            cose::check_hmac256(&mac0)?;
            if mac0.payload.is_some() {
                return Err(OfflineError::InvalidField("deviceMac"));
            }
            let shared = crypto::shared_secret(e_reader_key, device_key);
            let key = crypto::emac_key(&shared, transcript);
            let tbm = cose::mac0_tbm(&mac0, &payload);
            if !cose::verify_hmac_sha256(key.as_bytes(), &tbm, &mac0.tag) {
                return Err(OfflineError::InvalidDeviceMac);
            }
            Ok(DeviceAuthKind::Mac)
        }
    }
}

/// A document that passed every check of §9.3.1.
#[derive(Clone, Debug)]
pub struct VerifiedDocument {
    doc_type: String,
    issuer: Certificate,
    validity: ValidityInfo,
    device_auth: DeviceAuthKind,
    items: Vec<(String, Vec<(String, Value)>)>,
}

impl VerifiedDocument {
    /// The document type.
    pub fn doc_type(&self) -> &str {
        &self.doc_type
    }

    /// The document signer certificate.
    pub fn issuer(&self) -> &Certificate {
        &self.issuer
    }

    /// The MSO's validity.
    pub fn validity(&self) -> &ValidityInfo {
        &self.validity
    }

    /// How the mdoc authenticated.
    pub fn device_auth(&self) -> DeviceAuthKind {
        self.device_auth
    }

    /// Per namespace, the disclosed elements and their values.
    pub fn items(&self) -> &[(String, Vec<(String, Value)>)] {
        &self.items
    }

    /// One element's value.
    pub fn item(&self, name_space: &str, element: &str) -> Option<&Value> {
        self.items
            .iter()
            .find(|(ns, _)| ns == name_space)?
            .1
            .iter()
            .find(|(e, _)| e == element)
            .map(|(_, v)| v)
    }
}

/// Every check of §9.3.1 on one document, in the order of the clause: certificate chain,
/// issuer signature, digests, document type, validity, then device authentication.
pub fn verify_document(
    document: &Document,
    transcript: &SessionTranscript,
    e_reader_key: &SecretKey,
    trust: &TrustList,
    now: u64,
) -> Result<VerifiedDocument, OfflineError> {
    let issuer = verify_issuer_auth(&document.issuer_signed, trust, now)?;
    check_digests(&document.issuer_signed, &issuer.mso)?;
    if issuer.mso.doc_type != document.doc_type {
        return Err(OfflineError::DocTypeMismatch);
    }
    issuer.mso.validity.check(now)?;
    let device_auth =
        verify_device_auth(document, &issuer.mso.device_key, transcript, e_reader_key)?;
    let items = document
        .issuer_signed
        .name_spaces
        .iter()
        .map(|(ns, items)| {
            let values = items
                .iter()
                .map(|item| (item.element_identifier.clone(), item.element_value.clone()))
                .collect();
            (ns.clone(), values)
        })
        .collect();
    Ok(VerifiedDocument {
        doc_type: document.doc_type.clone(),
        issuer: issuer.signer,
        validity: issuer.mso.validity,
        device_auth,
        items,
    })
}
