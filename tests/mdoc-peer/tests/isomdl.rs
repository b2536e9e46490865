//! An independent 18013-5 implementation, spruceid's `isomdl` 0.2.0 (its own CBOR, COSE,
//! session, MSO and X.509 profile checks), against ours at the message level:
//!
//! - isomdl issues a document (its MSO, with decoy digests) signed by our test document
//!   signer; isomdl's holder engages by QR, checks our reader authentication against our
//!   reader root, and answers with a device signature; our reader verifies everything.
//! - isomdl's reader reads our holder, which presents a document we issued; isomdl checks our
//!   issuer chain (its 18013-5 Annex B profile rules), the MSO, the digests and our device
//!   signature.
//!
//! isomdl checks certificate validity against the system clock, so these tests use it too.

#![allow(clippy::unwrap_used, reason = "test code")]

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use ciborium::Value;
use isomdl::definitions::device_engagement::{CentralClientMode, DeviceRetrievalMethods};
use isomdl::definitions::device_request::{DataElements, Namespaces};
use isomdl::definitions::helpers::NonEmptyMap;
use isomdl::definitions::x509::X5Chain;
use isomdl::definitions::x509::trust_anchor::{PemTrustAnchor, TrustAnchorRegistry, TrustPurpose};
use isomdl::definitions::{
    BleOptions as IsoBle, CoseKey, DeviceKeyInfo, DeviceRetrievalMethod, DigestAlgorithm, EC2Curve,
    EC2Y, ValidityInfo as IsoValidity,
};
use isomdl::issuance::Mdoc;
use isomdl::presentation::authentication::AuthenticationStatus;
use isomdl::presentation::device::{Document as IsoDocument, SessionManagerInit};
use kazashi_protocol::offline::engagement::BleOptions;
use kazashi_protocol::offline::mso::ValidityInfo;
use kazashi_protocol::offline::pki::{Certificate, CertificateBuilder, Profile, TrustList, Usage};
use kazashi_protocol::offline::present::{self, DocumentBuilder};
use kazashi_protocol::offline::*;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use rand_core::OsRng;
use signature::Signer;

const MDL: &str = "org.iso.18013.5.1.mDL";
const NS: &str = "org.iso.18013.5.1";
const YEAR: u64 = 365 * 86_400;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

struct Party {
    root: Certificate,
    leaf: Certificate,
    leaf_key: SigningKey,
}

/// A root and a leaf in the Annex B profile, valid around the current time.
fn party(name: &str, usage: Usage) -> Party {
    let now = now();
    let root_key = SigningKey::random(&mut OsRng);
    let root = CertificateBuilder::new(
        &format!("CN={name} root,C=JP"),
        Profile::Root,
        now - YEAR,
        now + 5 * YEAR,
    )
    .crl_uri("https://pki.example.jp/crl")
    .issuer_alt_name("https://pki.example.jp")
    .build(&PublicKey::from(root_key.verifying_key()), None, &root_key)
    .unwrap();
    let leaf_key = SigningKey::random(&mut OsRng);
    let leaf = CertificateBuilder::new(
        &format!("CN={name},C=JP"),
        Profile::Leaf(usage),
        now - 86_400,
        now + YEAR,
    )
    .serial(&[0x22])
    .crl_uri("https://pki.example.jp/crl")
    .issuer_alt_name("https://pki.example.jp")
    .build(
        &PublicKey::from(leaf_key.verifying_key()),
        Some(&root),
        &root_key,
    )
    .unwrap();
    Party {
        root,
        leaf,
        leaf_key,
    }
}

fn elements() -> Vec<(String, Value)> {
    vec![
        ("family_name".into(), Value::Text("Yamada".into())),
        ("given_name".into(), Value::Text("Hanako".into())),
        ("document_number".into(), Value::Text("JP-123456".into())),
        ("age_over_18".into(), Value::Bool(true)),
    ]
}

fn odt(seconds: u64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(seconds as i64).unwrap()
}

#[test]
fn isomdl_holder_answers_our_reader() {
    let issuer = party("Test Issuer", Usage::DocumentSigner);
    let reader_party = party("Test Reader", Usage::ReaderAuth);
    let device_key = SigningKey::random(&mut OsRng);
    let point = PublicKey::from(device_key.verifying_key()).to_encoded_point(false);

    // isomdl issues the document: its MSO encoding, its digests (with decoys), our DS key.
    let now = now();
    let namespaces = [(NS.to_string(), elements().into_iter().collect())]
        .into_iter()
        .collect();
    let mdoc = Mdoc::builder()
        .doc_type(MDL.into())
        .namespaces(namespaces)
        .validity_info(IsoValidity {
            signed: odt(now - 60),
            valid_from: odt(now - 60),
            valid_until: odt(now + YEAR),
            expected_update: None,
        })
        .digest_algorithm(DigestAlgorithm::SHA256)
        .device_key_info(DeviceKeyInfo {
            device_key: CoseKey::EC2 {
                crv: EC2Curve::P256,
                x: point.x().unwrap().to_vec(),
                y: EC2Y::Value(point.y().unwrap().to_vec()),
            },
            key_authorizations: None,
            key_info: None,
        })
        .issue::<SigningKey, Signature>(
            X5Chain::builder()
                .with_der_certificate(issuer.leaf.der())
                .unwrap()
                .build()
                .unwrap(),
            issuer.leaf_key.clone(),
        )
        .unwrap();
    let documents = NonEmptyMap::new(MDL.to_string(), IsoDocument::from(mdoc));

    // isomdl's holder engages by QR.
    let methods = DeviceRetrievalMethods::new(DeviceRetrievalMethod::BLE(IsoBle {
        peripheral_server_mode: None,
        central_client_mode: Some(CentralClientMode {
            uuid: uuid::Uuid::new_v4(),
        }),
    }));
    let (engaged, qr) = SessionManagerInit::initialise(documents, Some(methods), None)
        .unwrap()
        .qr_engagement()
        .unwrap();

    // Our reader scans it and asks, signed.
    let engagement = DeviceEngagement::from_qr(&qr).unwrap();
    assert!(
        matches!(engagement.retrieval_methods(), [RetrievalMethod::Ble(b)] if b.central_client)
    );
    let mut reader = Reader::new(&engagement, &Handover::Qr, &mut OsRng);
    let items =
        ItemsRequest::new(MDL)
            .with(NS, "family_name", false)
            .with(NS, "age_over_18", false);
    let request = DeviceRequest::new(vec![DocRequest::signed(
        items,
        reader.transcript(),
        &reader_party.leaf_key,
        &[reader_party.leaf.der().to_vec()],
    )]);
    let establishment = reader.request(&request).unwrap();

    // isomdl decrypts, checks our reader authentication against our reader root.
    let registry = TrustAnchorRegistry::from_pem_certificates(vec![PemTrustAnchor {
        certificate_pem: reader_party.root.to_pem(),
        purpose: TrustPurpose::ReaderCa,
    }])
    .unwrap();
    let (mut holder, outcome) = engaged
        .process_session_establishment(isomdl::cbor::from_slice(&establishment).unwrap(), registry)
        .unwrap();
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(outcome.reader_authentication, AuthenticationStatus::Valid);
    assert_eq!(outcome.common_name.as_deref(), Some("Test Reader"));
    assert_eq!(outcome.items_request.len(), 1);

    // It releases what was asked and signs with the device key.
    let permitted = [(
        MDL.to_string(),
        [(
            NS.to_string(),
            vec!["family_name".to_string(), "age_over_18".to_string()],
        )]
        .into_iter()
        .collect(),
    )]
    .into_iter()
    .collect();
    holder.prepare_response(&outcome.items_request, permitted);
    let (_, payload) = holder.get_next_signature_payload().unwrap();
    let signature: Signature = device_key.sign(payload);
    holder.submit_next_signature(signature.to_vec()).unwrap();
    let reply = holder.retrieve_response().unwrap();

    // Our reader decrypts and verifies (chain, MSO signature, digests, validity, device
    // signature).
    let ReaderEvent::Response { response, .. } = reader.handle_message(&reply).unwrap() else {
        panic!("expected a response");
    };
    let doc = reader
        .verify(&response, &TrustList::new(vec![issuer.root.clone()]), now)
        .remove(0)
        .unwrap();
    assert_eq!(doc.doc_type(), MDL);
    assert_eq!(doc.device_auth(), DeviceAuthKind::Signature);
    assert_eq!(
        doc.item(NS, "family_name"),
        Some(&Value::Text("Yamada".into()))
    );
    assert_eq!(doc.item(NS, "age_over_18"), Some(&Value::Bool(true)));
    assert_eq!(doc.item(NS, "given_name"), None);
    // Another issuer's root does not verify it.
    let stranger = party("Stranger", Usage::DocumentSigner);
    assert_eq!(
        reader
            .verify(&response, &TrustList::new(vec![stranger.root]), now)
            .remove(0)
            .unwrap_err(),
        OfflineError::NotTrusted
    );
}

#[test]
fn isomdl_reader_reads_our_holder() {
    let issuer = party("Test Issuer", Usage::DocumentSigner);
    let outcome = read_our_holder_with_isomdl(&issuer, &issuer.root);
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(outcome.issuer_authentication, AuthenticationStatus::Valid);
    assert_eq!(outcome.device_authentication, AuthenticationStatus::Valid);
    let values = serde_json::to_string(&outcome.response).unwrap();
    assert!(values.contains("Yamada"), "{values}");
    assert!(!values.contains("Hanako"), "{values}");
}

#[test]
fn isomdl_reader_refuses_an_issuer_it_does_not_trust() {
    let issuer = party("Test Issuer", Usage::DocumentSigner);
    let stranger = party("Stranger", Usage::DocumentSigner);
    let outcome = read_our_holder_with_isomdl(&issuer, &stranger.root);
    assert_eq!(outcome.issuer_authentication, AuthenticationStatus::Invalid);
    assert!(!outcome.errors.is_empty());
}

fn read_our_holder_with_isomdl(
    issuer: &Party,
    trusted_root: &Certificate,
) -> isomdl::presentation::authentication::ResponseAuthenticationOutcome {
    let device_key = SecretKey::random(&mut OsRng);
    let now = now();
    let stored = present::issue(
        MDL,
        &[(NS.to_string(), elements())],
        &device_key.public_key(),
        ValidityInfo {
            signed: now - 60,
            valid_from: now - 60,
            valid_until: now + YEAR,
            expected_update: None,
        },
        &issuer.leaf_key,
        &[issuer.leaf.der().to_vec()],
        &mut OsRng,
    );

    let mut holder = Holder::new(
        vec![RetrievalMethod::Ble(BleOptions {
            peripheral_server: false,
            central_client: true,
            peripheral_server_uuid: None,
            central_client_uuid: Some(*uuid::Uuid::new_v4().as_bytes()),
            address: None,
        })],
        &mut OsRng,
    );
    let registry = TrustAnchorRegistry::from_pem_certificates(vec![PemTrustAnchor {
        certificate_pem: trusted_root.to_pem(),
        purpose: TrustPurpose::Iaca,
    }])
    .unwrap();
    let mut wanted = BTreeMap::new();
    wanted.insert("family_name".to_string(), false);
    wanted.insert("age_over_18".to_string(), false);
    let namespaces = Namespaces::new(NS.to_string(), DataElements::try_from(wanted).unwrap());
    let (mut iso_reader, establishment, _ble_ident) =
        isomdl::presentation::reader::SessionManager::establish_session(
            holder.engagement().to_qr(),
            namespaces,
            registry,
        )
        .unwrap();

    let HolderEvent::Request(request) = holder.handle_message(&establishment).unwrap() else {
        panic!("expected a request");
    };
    let items = request.doc_requests[0].items_request();
    assert_eq!(items.doc_type, MDL);
    assert!(items.requests(NS, "family_name") && items.requests(NS, "age_over_18"));
    let selected = stored.select(|ns, e| items.requests(ns, e));
    let document = DocumentBuilder::new(MDL, selected)
        .sign(holder.transcript().unwrap(), &SigningKey::from(&device_key));
    let reply = holder
        .respond(&DeviceResponse::new(vec![document]))
        .unwrap();

    iso_reader.handle_response(&reply)
}
