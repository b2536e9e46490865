//! Reading a 2 KiB document offline (18013-5 over NFC data retrieval framing), in memory:
//! the APDUs exchanged and bytes moved (counted, printed first), the modeled time on a
//! 424 kbit/s link with 3 ms turnaround per APDU, and the compute of both sides (criterion).
//!
//! `cargo bench -p kazashi-protocol --bench offline -- --warm-up-time 1 --measurement-time 4`

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::panic,
    reason = "benchmark setup: a failure should abort the run"
)]

#[path = "common/offline.rs"]
#[allow(dead_code, unreachable_pub)]
mod common;

use common::{Link, NOW, Traffic, elements_2k, party, report, validity};
use criterion::{Criterion, criterion_group, criterion_main};
use kazashi_protocol::offline::pki::{TrustList, Usage};
use kazashi_protocol::offline::present::{self, DocumentBuilder};
use kazashi_protocol::offline::*;
use p256::SecretKey;
use p256::ecdsa::SigningKey;
use rand_core::OsRng;

const MDL: &str = "org.iso.18013.5.1.mDL";
const NS: &str = "org.iso.18013.5.1";

struct Setup {
    trust: TrustList,
    reader_key: SigningKey,
    reader_chain: Vec<Vec<u8>>,
    reader_trust: TrustList,
    device_key: SecretKey,
    stored: IssuerSigned,
}

fn setup() -> Setup {
    let (root, ds, ds_key) = party("Issuer", Usage::DocumentSigner);
    let (reader_root, reader_leaf, reader_key) = party("Reader", Usage::ReaderAuth);
    let device_key = SecretKey::random(&mut OsRng);
    // 2 KiB of element values: a 1,900-byte portrait and text fields.
    let elements = elements_2k(NS, "document_number", "age_over_18");
    let stored = present::issue(
        MDL,
        &elements,
        &device_key.public_key(),
        validity(),
        &ds_key,
        &[ds.der().to_vec()],
        &mut OsRng,
    );
    Setup {
        trust: TrustList::new(vec![root]),
        reader_key,
        reader_chain: vec![reader_leaf.der().to_vec()],
        reader_trust: TrustList::new(vec![reader_root]),
        device_key,
        stored,
    }
}

/// One whole read: SELECT, request with reader authentication, response with device
/// signature or MAC, verification; the termination is not counted (the phone may just leave).
fn read(s: &Setup, reader_extended: bool, mac: bool) -> Traffic {
    let (mut holder, mut link) = Link::engage(reader_extended);
    let mut reader = Reader::new(&link.engagement, &link.handover, &mut OsRng);
    let mut items = ItemsRequest::new(MDL);
    for item in &s.stored.name_spaces[0].1 {
        items = items.with(NS, &item.element_identifier, false);
    }
    let request = DeviceRequest::new(vec![DocRequest::signed(
        items,
        reader.transcript(),
        &s.reader_key,
        &s.reader_chain,
    )]);
    let establishment = reader.request(&request).unwrap();
    let reply = link.exchange(&establishment, |message| {
        let HolderEvent::Request(request) = holder.handle_message(&message).unwrap() else {
            panic!()
        };
        let doc = &request.doc_requests[0];
        doc.verify_reader_auth(holder.transcript().unwrap(), &s.reader_trust, NOW)
            .unwrap()
            .unwrap();
        let selected = s.stored.select(|ns, e| doc.items_request().requests(ns, e));
        let builder = DocumentBuilder::new(MDL, selected);
        let document = if mac {
            builder.mac(
                holder.transcript().unwrap(),
                &s.device_key,
                holder.e_reader_key().unwrap(),
            )
        } else {
            builder.sign(
                holder.transcript().unwrap(),
                &SigningKey::from(&s.device_key),
            )
        };
        Some(
            holder
                .respond(&DeviceResponse::new(vec![document]))
                .unwrap(),
        )
    });
    let ReaderEvent::Response { response, .. } = reader.handle_message(&reply.unwrap()).unwrap()
    else {
        panic!()
    };
    let doc = reader.verify(&response, &s.trust, NOW).remove(0).unwrap();
    assert_eq!(doc.items()[0].1.len(), 7);
    link.traffic
}

fn bench(c: &mut Criterion) {
    let s = setup();
    report(
        "reading a 2 KiB document (7 elements, reader authentication on)",
        |extended| read(&s, extended, false),
    );
    let mut group = c.benchmark_group("offline_read_2k");
    group.bench_function("device_signature", |b| b.iter(|| read(&s, true, false)));
    group.bench_function("device_mac", |b| b.iter(|| read(&s, true, true)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
