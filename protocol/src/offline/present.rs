//! The holder's side of documents: issuing test documents (an MSO signed by an issuer key),
//! and presenting a document with device authentication by signature or by MAC (§9.1.3).

use alloc::string::String;
use alloc::vec::Vec;

use ciborium::value::Value;
use p256::ecdsa::{Signature, SigningKey};
use p256::{PublicKey, SecretKey};
use rand_core::CryptoRngCore;

use super::cbor;
use super::cose;
use super::crypto;
use super::mso::{MobileSecurityObject, ValidityInfo};
use super::response::{DeviceAuth, DeviceSigned, Document, IssuerSigned, IssuerSignedItem};
use super::transcript::SessionTranscript;
use super::verify::device_authentication_bytes;

/// Length of each item's salt (§9.1.2.5 asks for at least 16 bytes).
pub const SALT_LEN: usize = 32;

/// Issues a document: one [`IssuerSignedItem`] per element with a fresh salt, an MSO holding
/// their SHA-256 digests and the holder's `device_key`, signed ES256 by `issuer_key` with
/// `chain` (document signer certificate first) in `x5chain`.
///
/// Digest IDs are a random permutation per namespace, so that they do not reveal the order of
/// elements the issuer used.
pub fn issue(
    doc_type: &str,
    name_spaces: &[(String, Vec<(String, Value)>)],
    device_key: &PublicKey,
    validity: ValidityInfo,
    issuer_key: &SigningKey,
    chain: &[Vec<u8>],
    rng: &mut impl CryptoRngCore,
) -> IssuerSigned {
    let mut signed_name_spaces = Vec::new();
    let mut value_digests = Vec::new();
    for (ns, elements) in name_spaces {
        let mut ids: Vec<u64> = (0..elements.len() as u64).collect();
        // Fisher–Yates with the caller's randomness.
        for i in (1..ids.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            ids.swap(i, j);
        }
        let mut items = Vec::new();
        let mut digests = Vec::new();
        for ((name, value), id) in elements.iter().zip(ids) {
            let mut random = alloc::vec![0u8; SALT_LEN];
            rng.fill_bytes(&mut random);
            let item = IssuerSignedItem::new(id, random, name, value.clone());
            digests.push((id, item.digest().to_vec()));
            items.push(item);
        }
        digests.sort_by_key(|(id, _)| *id);
        signed_name_spaces.push((ns.clone(), items));
        value_digests.push((ns.clone(), digests));
    }
    let mso = MobileSecurityObject {
        version: "1.0".into(),
        value_digests,
        device_key: *device_key,
        doc_type: doc_type.into(),
        validity,
    };
    let payload = cbor::wrap_tag24(&mso.to_bytes());
    let issuer_auth = cose::encode(cose::sign1_attached(issuer_key, payload, chain));
    IssuerSigned {
        name_spaces: signed_name_spaces,
        issuer_auth,
    }
}

/// A document being presented: the selected issuer-signed items and empty device-signed
/// namespaces, waiting for device authentication.
#[derive(Clone, Debug)]
pub struct DocumentBuilder {
    doc_type: String,
    issuer_signed: IssuerSigned,
    device_name_spaces_bytes: Vec<u8>,
}

impl DocumentBuilder {
    /// A document of `doc_type` disclosing `issuer_signed` (already reduced to what the
    /// holder agreed to release, see [`IssuerSigned::select`]).
    pub fn new(doc_type: &str, issuer_signed: IssuerSigned) -> Self {
        Self {
            doc_type: doc_type.into(),
            issuer_signed,
            // No device-signed elements: an empty map.
            device_name_spaces_bytes: cbor::wrap_tag24(&[0xA0]),
        }
    }

    /// `DeviceAuthenticationBytes` for this session.
    pub fn device_authentication_bytes(&self, transcript: &SessionTranscript) -> Vec<u8> {
        device_authentication_bytes(transcript, &self.doc_type, &self.device_name_spaces_bytes)
    }

    /// The `Sig_structure` a device key outside this crate (the chip) signs with ECDSA
    /// P-256 / SHA-256; pass the signature to [`with_signature`](Self::with_signature).
    pub fn to_be_signed(&self, transcript: &SessionTranscript) -> Vec<u8> {
        cose::sign1_detached_tbs(&self.device_authentication_bytes(transcript))
    }

    fn finish(self, device_auth: DeviceAuth) -> Document {
        Document {
            doc_type: self.doc_type,
            issuer_signed: self.issuer_signed,
            device_signed: DeviceSigned {
                name_spaces_bytes: self.device_name_spaces_bytes,
                device_auth,
            },
        }
    }

    /// The document with `deviceSignature` from a signature over
    /// [`to_be_signed`](Self::to_be_signed).
    pub fn with_signature(self, signature: &Signature) -> Document {
        let sign1 = cose::encode(cose::sign1_from_signature(signature));
        self.finish(DeviceAuth::Signature(sign1))
    }

    /// The document with `deviceSignature` made with a device key held in memory.
    pub fn sign(self, transcript: &SessionTranscript, device_key: &SigningKey) -> Document {
        let payload = self.device_authentication_bytes(transcript);
        let sign1 = cose::encode(cose::sign1_detached(device_key, &payload, &[]));
        self.finish(DeviceAuth::Signature(sign1))
    }

    /// The document with `deviceMac` (§9.1.3.5): HMAC-SHA256 with the EMacKey from ECDH of
    /// the device key and the reader's ephemeral key.
    pub fn mac(
        self,
        transcript: &SessionTranscript,
        device_key: &SecretKey,
        e_reader_key: &PublicKey,
    ) -> Document {
        let shared = crypto::shared_secret(device_key, e_reader_key);
        let key = crypto::emac_key(&shared, transcript);
        let payload = self.device_authentication_bytes(transcript);
        let mac0 = cose::encode(cose::mac0_detached(key.as_bytes(), &payload));
        self.finish(DeviceAuth::Mac(mac0))
    }
}
