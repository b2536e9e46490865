//! Shared fixtures for the offline (18013-5) tests: a test PKI built with our certificate
//! builder, a test mDL, and a full in-memory session.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use ciborium::value::Value;
use kazashi_protocol::offline::mso::ValidityInfo;
use kazashi_protocol::offline::pki::{Certificate, CertificateBuilder, Profile, TrustList, Usage};
use kazashi_protocol::offline::present::{self, DocumentBuilder};
use kazashi_protocol::offline::*;
use p256::ecdsa::SigningKey;
use p256::{PublicKey, SecretKey};
use rand_core::OsRng;

pub const MDL: &str = "org.iso.18013.5.1.mDL";
pub const MDL_NS: &str = "org.iso.18013.5.1";
/// 2026-01-01T00:00:00Z.
pub const NOW: u64 = 1_767_225_600;
pub const DAY: u64 = 86_400;
pub const YEAR: u64 = 365 * DAY;

pub struct Party {
    pub root: Certificate,
    pub root_key: SigningKey,
    pub leaf: Certificate,
    pub leaf_key: SigningKey,
}

impl Party {
    pub fn new(name: &str, usage: Usage) -> Self {
        Self::with_validity(name, usage, NOW - YEAR, NOW + YEAR)
    }

    pub fn with_validity(name: &str, usage: Usage, not_before: u64, not_after: u64) -> Self {
        let root_key = SigningKey::random(&mut OsRng);
        let root = CertificateBuilder::new(
            &format!("CN={name} root,C=JP"),
            Profile::Root,
            NOW - 10 * YEAR,
            NOW + 10 * YEAR,
        )
        .crl_uri("https://pki.example.jp/root.crl")
        .issuer_alt_name("https://pki.example.jp")
        .build(&PublicKey::from(root_key.verifying_key()), None, &root_key)
        .unwrap();
        let leaf_key = SigningKey::random(&mut OsRng);
        let leaf = CertificateBuilder::new(
            &format!("CN={name},C=JP"),
            Profile::Leaf(usage),
            not_before,
            not_after,
        )
        .serial(&[2])
        .crl_uri("https://pki.example.jp/root.crl")
        .issuer_alt_name("pki@example.jp")
        .build(
            &PublicKey::from(leaf_key.verifying_key()),
            Some(&root),
            &root_key,
        )
        .unwrap();
        Self {
            root,
            root_key,
            leaf,
            leaf_key,
        }
    }

    pub fn trust(&self) -> TrustList {
        TrustList::new(vec![self.root.clone()])
    }

    pub fn chain(&self) -> Vec<Vec<u8>> {
        vec![self.leaf.der().to_vec()]
    }
}

pub fn mdl_elements() -> Vec<(String, Vec<(String, Value)>)> {
    vec![(
        MDL_NS.into(),
        vec![
            ("family_name".into(), Value::Text("Yamada".into())),
            ("given_name".into(), Value::Text("Hanako".into())),
            ("age_over_18".into(), Value::Bool(true)),
            ("document_number".into(), Value::Text("JP-123456".into())),
            (
                "portrait".into(),
                Value::Bytes(vec![0xFF, 0xD8, 0xFF, 0xE0]),
            ),
        ],
    )]
}

pub fn validity(from: u64, until: u64) -> ValidityInfo {
    ValidityInfo {
        signed: from,
        valid_from: from,
        valid_until: until,
        expected_update: None,
    }
}

/// A test mDL for `device_key`, valid a year either side of NOW.
pub fn issue(issuer: &Party, device_key: &PublicKey, validity: ValidityInfo) -> IssuerSigned {
    present::issue(
        MDL,
        &mdl_elements(),
        device_key,
        validity,
        &issuer.leaf_key,
        &issuer.chain(),
        &mut OsRng,
    )
}

/// A fresh device key and a test mDL from `issuer` bound to it, valid from a day ago for a
/// year.
pub fn issue_now(issuer: &Party) -> (SecretKey, IssuerSigned) {
    let device_key = SecretKey::random(&mut OsRng);
    let stored = issue(
        issuer,
        &device_key.public_key(),
        validity(NOW - DAY, NOW + YEAR),
    );
    (device_key, stored)
}

pub fn request_items() -> ItemsRequest {
    ItemsRequest::new(MDL)
        .with(MDL_NS, "family_name", false)
        .with(MDL_NS, "age_over_18", false)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    Signature,
    Mac,
}

/// The holder's answer: what was asked and is held, device-authenticated.
pub fn answer(
    holder: &Holder,
    request: &DeviceRequest,
    stored: &IssuerSigned,
    device_key: &SecretKey,
    auth: Auth,
) -> DeviceResponse {
    let transcript = holder.transcript().unwrap();
    let docs = request
        .doc_requests
        .iter()
        .filter(|d| d.items_request().doc_type == MDL)
        .map(|d| {
            let selected = stored.select(|ns, e| d.items_request().requests(ns, e));
            let builder = DocumentBuilder::new(MDL, selected);
            match auth {
                Auth::Signature => builder.sign(transcript, &SigningKey::from(device_key)),
                Auth::Mac => builder.mac(transcript, device_key, holder.e_reader_key().unwrap()),
            }
        })
        .collect();
    DeviceResponse::new(docs)
}
