//! X.509 for 18013-5 (Annex B): document signer and reader certificates, trust lists, and a
//! small certificate builder for test issuers and kiosks. P-256 keys and ECDSA-SHA256
//! signatures only. Built on [`x509_cert`].

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use p256::PublicKey;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha1::{Digest, Sha1};
use x509_cert::der::asn1::{
    BitString, GeneralizedTime, Ia5String, ObjectIdentifier, OctetString, UtcTime,
};
use x509_cert::der::{Any, Decode, Encode};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage,
    IssuerAltName, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate as X509, TbsCertificate, Version};

use super::error::OfflineError;
use base64ct::Encoding as _;

/// id-ecPublicKey (RFC 5480).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1 (RFC 5480).
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// ecdsa-with-SHA256 (RFC 5758).
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ID_CE_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const ID_CE_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const ID_CE_SUBJECT_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const ID_CE_AUTHORITY_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
const ID_CE_CRL_DISTRIBUTION_POINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.31");
const ID_CE_ISSUER_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.18");

/// Extended key usage of an mdoc document signer (18013-5 Annex B.1.4).
pub const EKU_DOCUMENT_SIGNER: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.0.18013.5.1.2");
/// Extended key usage of an mdoc reader authentication certificate (Annex B.1.7).
pub const EKU_READER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.0.18013.5.1.6");

/// What a certificate is checked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// Signing mobile security objects (issuer authentication).
    DocumentSigner,
    /// Signing reader authentication.
    ReaderAuth,
}

impl Usage {
    fn eku(self) -> ObjectIdentifier {
        match self {
            Usage::DocumentSigner => EKU_DOCUMENT_SIGNER,
            Usage::ReaderAuth => EKU_READER_AUTH,
        }
    }
}

/// A parsed certificate with a P-256 key.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    cert: X509,
    key: PublicKey,
}

impl core::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

impl Certificate {
    /// Parses a DER certificate; its key must be P-256 and its signature ECDSA-SHA256.
    pub fn from_der(der: &[u8]) -> Result<Self, OfflineError> {
        let cert = X509::from_der(der).map_err(|_| OfflineError::InvalidCertificate)?;
        if cert.tbs_certificate.version != Version::V3
            || cert.signature_algorithm.oid != ECDSA_WITH_SHA256
        {
            return Err(OfflineError::InvalidCertificate);
        }
        let key = p256_key(&cert.tbs_certificate.subject_public_key_info)?;
        Ok(Self {
            der: der.to_vec(),
            cert,
            key,
        })
    }

    /// Parses every certificate of a PEM text (`-----BEGIN CERTIFICATE-----`).
    pub fn from_pem_chain(pem: &str) -> Result<Vec<Self>, OfflineError> {
        let mut out = Vec::new();
        let mut rest = pem;
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        while let Some(start) = rest.find(BEGIN) {
            let body_start = start + BEGIN.len();
            let end = rest[body_start..]
                .find(END)
                .ok_or(OfflineError::InvalidCertificate)?;
            let body: String = rest[body_start..body_start + end]
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            let der = base64ct::Base64::decode_vec(&body)
                .map_err(|_| OfflineError::InvalidCertificate)?;
            out.push(Self::from_der(&der)?);
            rest = &rest[body_start + end + END.len()..];
        }
        if out.is_empty() {
            return Err(OfflineError::InvalidCertificate);
        }
        Ok(out)
    }

    /// The DER encoding, as given.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM text.
    pub fn to_pem(&self) -> String {
        use base64ct::Encoding;
        let b64 = base64ct::Base64::encode_string(&self.der);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(core::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// The subject's public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// The subject as an RFC 4514 string.
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer(&self) -> String {
        self.cert.tbs_certificate.issuer.to_string()
    }

    /// `notBefore`, seconds since the Unix epoch.
    pub fn not_before(&self) -> u64 {
        self.cert
            .tbs_certificate
            .validity
            .not_before
            .to_unix_duration()
            .as_secs()
    }

    /// `notAfter`, seconds since the Unix epoch.
    pub fn not_after(&self) -> u64 {
        self.cert
            .tbs_certificate
            .validity
            .not_after
            .to_unix_duration()
            .as_secs()
    }

    /// Checks `notBefore <= now <= notAfter`.
    pub fn check_validity(&self, now: u64) -> Result<(), OfflineError> {
        if now < self.not_before() {
            return Err(OfflineError::CertificateNotYetValid);
        }
        if now > self.not_after() {
            return Err(OfflineError::CertificateExpired);
        }
        Ok(())
    }

    /// Whether `issuer` issued this certificate: names match and the signature verifies.
    pub fn is_issued_by(&self, issuer: &Certificate) -> bool {
        let (Ok(ours), Ok(theirs)) = (
            self.cert.tbs_certificate.issuer.to_der(),
            issuer.cert.tbs_certificate.subject.to_der(),
        ) else {
            return false;
        };
        if ours != theirs {
            return false;
        }
        let (Ok(tbs), Ok(signature)) = (
            self.cert.tbs_certificate.to_der(),
            Signature::from_der(self.cert.signature.raw_bytes()),
        ) else {
            return false;
        };
        VerifyingKey::from(&issuer.key)
            .verify(&tbs, &signature)
            .is_ok()
    }

    fn extension<'a, T: Decode<'a>>(
        &'a self,
        oid: ObjectIdentifier,
    ) -> Result<Option<T>, OfflineError> {
        let Some(extensions) = &self.cert.tbs_certificate.extensions else {
            return Ok(None);
        };
        let mut found = extensions.iter().filter(|e| e.extn_id == oid);
        let Some(ext) = found.next() else {
            return Ok(None);
        };
        if found.next().is_some() {
            return Err(OfflineError::InvalidCertificate);
        }
        T::from_der(ext.extn_value.as_bytes())
            .map(Some)
            .map_err(|_| OfflineError::InvalidCertificate)
    }

    /// Checks the leaf's extended key usage for `usage` (when the extension is present) and
    /// that its key usage, if present, allows digital signatures.
    fn check_usage(&self, usage: Usage) -> Result<(), OfflineError> {
        if let Some(eku) = self.extension::<ExtendedKeyUsage>(ID_CE_EXT_KEY_USAGE)? {
            if !eku.0.contains(&usage.eku()) {
                return Err(OfflineError::WrongKeyUsage);
            }
        }
        if let Some(ku) = self.extension::<KeyUsage>(ID_CE_KEY_USAGE)? {
            if !ku.digital_signature() {
                return Err(OfflineError::WrongKeyUsage);
            }
        }
        Ok(())
    }

    /// Whether this certificate may issue others: basic constraints `cA` when present.
    fn may_issue(&self) -> Result<bool, OfflineError> {
        Ok(self
            .extension::<BasicConstraints>(ID_CE_BASIC_CONSTRAINTS)?
            .is_some_and(|bc| bc.ca))
    }
}

fn p256_key(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKey, OfflineError> {
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    if spki.algorithm.oid != EC_PUBLIC_KEY || curve != Some(SECP256R1) {
        return Err(OfflineError::InvalidCertificate);
    }
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or(OfflineError::InvalidCertificate)?;
    PublicKey::from_sec1_bytes(bits).map_err(|_| OfflineError::InvalidCertificate)
}

/// Trust anchors for one role: issuer (IACA or document signer) certificates on a reader,
/// reader roots on a holder.
#[derive(Clone, Debug, Default)]
pub struct TrustList {
    anchors: Vec<Certificate>,
}

impl TrustList {
    /// A trust list of these anchors.
    pub fn new(anchors: Vec<Certificate>) -> Self {
        Self { anchors }
    }

    /// The anchors.
    pub fn anchors(&self) -> &[Certificate] {
        &self.anchors
    }

    /// Verifies a chain (leaf first, from `x5chain`) up to an anchor, and returns the leaf.
    ///
    /// The leaf is trusted when it is an anchor itself, or when it (or an intermediate of
    /// the chain, which must be a CA) was issued by an anchor. Every certificate on the path,
    /// the anchor included, must be valid at `now`; the leaf's key usage must fit `usage`.
    pub fn verify_chain(
        &self,
        chain_der: &[Vec<u8>],
        usage: Usage,
        now: u64,
    ) -> Result<Certificate, OfflineError> {
        let chain: Vec<Certificate> = chain_der
            .iter()
            .map(|der| Certificate::from_der(der))
            .collect::<Result<_, _>>()?;
        let leaf = chain.first().ok_or(OfflineError::MissingField("x5chain"))?;
        leaf.check_usage(usage)?;
        let mut current = leaf;
        let mut rest = chain.iter().skip(1);
        loop {
            current.check_validity(now)?;
            if let Some(anchor) = self.anchors.iter().find(|a| *a == current) {
                anchor.check_validity(now)?;
                return Ok(leaf.clone());
            }
            if let Some(anchor) = self.anchors.iter().find(|a| current.is_issued_by(a)) {
                if !anchor.may_issue()? {
                    return Err(OfflineError::NotTrusted);
                }
                anchor.check_validity(now)?;
                return Ok(leaf.clone());
            }
            match rest.next() {
                Some(next) if current.is_issued_by(next) && next.may_issue()? => current = next,
                _ => return Err(OfflineError::NotTrusted),
            }
        }
    }
}

/// What a [`CertificateBuilder`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// A root (IACA or reader root): `cA` with path length 0, key usage `keyCertSign` and
    /// `cRLSign`, self-signed.
    Root,
    /// A leaf for `usage`: key usage `digitalSignature` and the 18013-5 extended key usage.
    Leaf(Usage),
}

/// Builds a P-256 / ECDSA-SHA256 certificate in the 18013-5 Annex B profile: for test
/// issuers, test readers and a kiosk's own reader certificate. Not a general-purpose CA.
///
/// Every certificate gets a subject key identifier (SHA-1 of the public key, RFC 5280
/// §4.2.1.2 method 1), an issued one the issuer's as authority key identifier, and, when set,
/// the CRL distribution point and issuer alternative name Annex B asks for (strict verifiers
/// such as isomdl require them).
#[derive(Clone, Debug)]
pub struct CertificateBuilder {
    subject: String,
    serial: Vec<u8>,
    not_before: u64,
    not_after: u64,
    profile: Profile,
    crl_uri: Option<String>,
    issuer_alt_name: Option<String>,
}

impl CertificateBuilder {
    /// A certificate for `subject` (RFC 4514, for example `CN=Test Issuer,C=JP`), valid from
    /// `not_before` to `not_after` (seconds since the Unix epoch), serial number 1.
    pub fn new(subject: &str, profile: Profile, not_before: u64, not_after: u64) -> Self {
        Self {
            subject: subject.into(),
            serial: vec![1],
            not_before,
            not_after,
            profile,
            crl_uri: None,
            issuer_alt_name: None,
        }
    }

    /// The serial number (positive, at most 20 bytes).
    pub fn serial(mut self, serial: &[u8]) -> Self {
        self.serial = serial.to_vec();
        self
    }

    /// A CRL distribution point URI.
    pub fn crl_uri(mut self, uri: &str) -> Self {
        self.crl_uri = Some(uri.into());
        self
    }

    /// The issuer alternative name: a URI, or an e-mail address when it has no `:`.
    pub fn issuer_alt_name(mut self, name: &str) -> Self {
        self.issuer_alt_name = Some(name.into());
        self
    }

    fn time(seconds: u64) -> Result<Time, OfflineError> {
        let duration = Duration::from_secs(seconds);
        // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
        let utc_limit = 2_524_608_000; // 2050-01-01T00:00:00Z
        if seconds < utc_limit {
            UtcTime::from_unix_duration(duration).map(Time::UtcTime)
        } else {
            GeneralizedTime::from_unix_duration(duration).map(Time::GeneralTime)
        }
        .map_err(|_| OfflineError::InvalidCertificate)
    }

    fn extensions(
        &self,
        subject_key: &[u8],
        issuer_key: Option<&[u8]>,
    ) -> Result<Vec<Extension>, OfflineError> {
        let bad = |_| OfflineError::InvalidCertificate;
        let ext = |oid, critical, value: Vec<u8>| -> Result<Extension, OfflineError> {
            Ok(Extension {
                extn_id: oid,
                critical,
                extn_value: OctetString::new(value).map_err(bad)?,
            })
        };
        let key_id = |key: &[u8]| OctetString::new(Sha1::digest(key).to_vec()).map_err(bad);
        let mut out = vec![ext(
            ID_CE_SUBJECT_KEY_IDENTIFIER,
            false,
            SubjectKeyIdentifier(key_id(subject_key)?)
                .to_der()
                .map_err(bad)?,
        )?];
        if let Some(issuer_key) = issuer_key {
            let aki = AuthorityKeyIdentifier {
                key_identifier: Some(key_id(issuer_key)?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            };
            out.push(ext(
                ID_CE_AUTHORITY_KEY_IDENTIFIER,
                false,
                aki.to_der().map_err(bad)?,
            )?);
        }
        match self.profile {
            Profile::Root => {
                let bc = BasicConstraints {
                    ca: true,
                    path_len_constraint: Some(0),
                };
                out.push(ext(
                    ID_CE_BASIC_CONSTRAINTS,
                    true,
                    bc.to_der().map_err(bad)?,
                )?);
                let ku = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
                out.push(ext(ID_CE_KEY_USAGE, true, ku.to_der().map_err(bad)?)?);
            }
            Profile::Leaf(usage) => {
                let ku = KeyUsage(KeyUsages::DigitalSignature.into());
                out.push(ext(ID_CE_KEY_USAGE, true, ku.to_der().map_err(bad)?)?);
                let eku = ExtendedKeyUsage(vec![usage.eku()]);
                out.push(ext(ID_CE_EXT_KEY_USAGE, true, eku.to_der().map_err(bad)?)?);
            }
        }
        if let Some(uri) = &self.crl_uri {
            let name = GeneralName::UniformResourceIdentifier(Ia5String::new(uri).map_err(bad)?);
            let dp = CrlDistributionPoints(vec![DistributionPoint {
                distribution_point: Some(DistributionPointName::FullName(vec![name])),
                reasons: None,
                crl_issuer: None,
            }]);
            out.push(ext(
                ID_CE_CRL_DISTRIBUTION_POINTS,
                false,
                dp.to_der().map_err(bad)?,
            )?);
        }
        if let Some(name) = &self.issuer_alt_name {
            let name = Ia5String::new(name).map_err(bad)?;
            let name = if name.as_str().contains(':') {
                GeneralName::UniformResourceIdentifier(name)
            } else {
                GeneralName::Rfc822Name(name)
            };
            let ian = IssuerAltName(vec![name]);
            out.push(ext(
                ID_CE_ISSUER_ALT_NAME,
                false,
                ian.to_der().map_err(bad)?,
            )?);
        }
        Ok(out)
    }

    /// Signs the certificate of `subject_key` with `issuer_key`; `issuer` is `None` for a
    /// self-signed root.
    pub fn build(
        &self,
        subject_key: &PublicKey,
        issuer: Option<&Certificate>,
        issuer_key: &SigningKey,
    ) -> Result<Certificate, OfflineError> {
        let bad = |_| OfflineError::InvalidCertificate;
        let subject: Name = self.subject.parse().map_err(bad)?;
        let issuer_name = match issuer {
            Some(issuer) => issuer.cert.tbs_certificate.subject.clone(),
            None => subject.clone(),
        };
        let algorithm = AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA256,
            parameters: None,
        };
        let point = subject_key.to_encoded_point(false);
        let issuer_point = issuer.map(|i| i.key.to_encoded_point(false));
        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::new(&self.serial).map_err(bad)?,
            signature: algorithm.clone(),
            issuer: issuer_name,
            validity: Validity {
                not_before: Self::time(self.not_before)?,
                not_after: Self::time(self.not_after)?,
            },
            subject,
            subject_public_key_info: SubjectPublicKeyInfoOwned {
                algorithm: AlgorithmIdentifierOwned {
                    oid: EC_PUBLIC_KEY,
                    parameters: Some(Any::from(&SECP256R1)),
                },
                subject_public_key: BitString::from_bytes(point.as_bytes()).map_err(bad)?,
            },
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(self.extensions(
                point.as_bytes(),
                issuer_point.as_ref().map(|p| p.as_bytes()),
            )?),
        };
        let tbs_der = tbs.to_der().map_err(bad)?;
        let signature: DerSignature = issuer_key.sign(&tbs_der);
        let cert = X509 {
            tbs_certificate: tbs,
            signature_algorithm: algorithm,
            signature: BitString::from_bytes(signature.as_bytes()).map_err(bad)?,
        };
        Certificate::from_der(&cert.to_der().map_err(bad)?)
    }
}
