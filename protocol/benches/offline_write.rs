//! Writing a 2 KiB document at the counter (`offline::provision`, our extension), in memory
//! through the NFC data retrieval framing: the APDUs exchanged and bytes moved (counted,
//! printed first), the modeled time on a 424 kbit/s link with 3 ms turnaround per APDU, and the
//! compute of both sides (criterion): reader authentication, the phone's new key and proof,
//! issuance, the phone's checks, the confirmation.
//!
//! `cargo bench -p kazashi-protocol --bench offline_write -- --warm-up-time 1 --measurement-time 4`

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::panic,
    reason = "benchmark setup: a failure should abort the run"
)]

#[path = "common/offline.rs"]
#[allow(dead_code, unreachable_pub)]
mod common;

use ciborium::value::Value;
use common::{Link, NOW, Traffic, elements_2k, party, report, validity};
use criterion::{Criterion, criterion_group, criterion_main};
use kazashi_protocol::offline::pki::{TrustList, Usage};
use kazashi_protocol::offline::present;
use kazashi_protocol::offline::provision::{HolderWrite, TerminalWrite};
use kazashi_protocol::offline::*;
use p256::ecdsa::SigningKey;
use rand_core::OsRng;

const DOC_TYPE: &str = "jp.kazashi.residence.1";
const NS: &str = "jp.kazashi.residence";

struct Setup {
    issuer_key: SigningKey,
    issuer_chain: Vec<Vec<u8>>,
    reader_key: SigningKey,
    reader_chain: Vec<Vec<u8>>,
    reader_trust: TrustList,
    elements: Vec<(String, Vec<(String, Value)>)>,
}

fn setup() -> Setup {
    let (_, ds, issuer_key) = party("Issuer", Usage::DocumentSigner);
    let (reader_root, reader_leaf, reader_key) = party("Counter", Usage::ReaderAuth);
    // 2 KiB of element values, as in the read benchmark.
    let elements = elements_2k(NS, "resident_number", "resident");
    Setup {
        issuer_key,
        issuer_chain: vec![ds.der().to_vec()],
        reader_key,
        reader_chain: vec![reader_leaf.der().to_vec()],
        reader_trust: TrustList::new(vec![reader_root]),
        elements,
    }
}

/// One whole write: SELECT, the reader-authenticated key request, the phone's new key (in
/// software here) and proof, issuance, the document, the phone's checks and confirmation.
fn write(s: &Setup, reader_extended: bool) -> Traffic {
    let (mut holder, mut link) = Link::engage(reader_extended);
    let reader = Reader::new(&link.engagement, &link.handover, &mut OsRng);
    let (awaiting_key, establishment) =
        TerminalWrite::start(reader, DOC_TYPE, &s.reader_key, &s.reader_chain).unwrap();
    let mut awaiting_store = None;
    let reply = link.exchange(&establishment, |m| {
        let HolderEvent::Request(request) = holder.handle_message(&m).unwrap() else {
            panic!()
        };
        let requested =
            HolderWrite::authorize(holder, &request, Some(&s.reader_trust), NOW).unwrap();
        let (next, reply) = requested.respond(&SigningKey::random(&mut OsRng)).unwrap();
        awaiting_store = Some(next);
        Some(reply)
    });
    let received = awaiting_key.handle(&reply.unwrap()).unwrap();
    let document = present::issue(
        DOC_TYPE,
        &s.elements,
        received.device_key(),
        validity(),
        &s.issuer_key,
        &s.issuer_chain,
        &mut OsRng,
    );
    let (awaiting_stored, store) = received.store(&document).unwrap();
    let awaiting_store = awaiting_store.unwrap();
    let reply = link.exchange(&store, |m| {
        let ready = awaiting_store.handle(&m, NOW).unwrap();
        Some(ready.stored())
    });
    awaiting_stored.handle(&reply.unwrap()).unwrap();
    link.traffic
}

fn bench(c: &mut Criterion) {
    let s = setup();
    report(
        "writing a 2 KiB document (7 elements, reader authentication, new key)",
        |extended| write(&s, extended),
    );
    let mut group = c.benchmark_group("offline_write_2k");
    group.bench_function("software_key", |b| b.iter(|| write(&s, true)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
