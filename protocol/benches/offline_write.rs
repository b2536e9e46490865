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

use ciborium::value::Value;
use criterion::{Criterion, criterion_group, criterion_main};
use kazashi_protocol::offline::engagement::NfcOptions;
use kazashi_protocol::offline::mso::ValidityInfo;
use kazashi_protocol::offline::ndef::HandoverSelect;
use kazashi_protocol::offline::nfc::{
    self, AppletAction, HolderApplet, Limits, Next, ReaderExchange,
};
use kazashi_protocol::offline::pki::{Certificate, CertificateBuilder, Profile, TrustList, Usage};
use kazashi_protocol::offline::present;
use kazashi_protocol::offline::provision::{HolderWrite, TerminalWrite};
use kazashi_protocol::offline::*;
use p256::PublicKey;
use p256::ecdsa::SigningKey;
use rand_core::OsRng;

const DOC_TYPE: &str = "jp.kazashi.residence.1";
const NS: &str = "jp.kazashi.residence";
const NOW: u64 = 1_767_225_600;
const LINK_BITS_PER_SECOND: f64 = 424_000.0;
const TURNAROUND_MS: f64 = 3.0;

struct Setup {
    issuer_key: SigningKey,
    issuer_chain: Vec<Vec<u8>>,
    reader_key: SigningKey,
    reader_chain: Vec<Vec<u8>>,
    reader_trust: TrustList,
    elements: Vec<(String, Vec<(String, Value)>)>,
}

fn party(name: &str, usage: Usage) -> (Certificate, Certificate, SigningKey) {
    let root_key = SigningKey::random(&mut OsRng);
    let root = CertificateBuilder::new(
        &format!("CN={name} root"),
        Profile::Root,
        NOW - 1_000_000,
        NOW + 1_000_000,
    )
    .build(&PublicKey::from(root_key.verifying_key()), None, &root_key)
    .unwrap();
    let key = SigningKey::random(&mut OsRng);
    let leaf = CertificateBuilder::new(
        &format!("CN={name}"),
        Profile::Leaf(usage),
        NOW - 1_000_000,
        NOW + 1_000_000,
    )
    .serial(&[2])
    .build(
        &PublicKey::from(key.verifying_key()),
        Some(&root),
        &root_key,
    )
    .unwrap();
    (root, leaf, key)
}

fn setup() -> Setup {
    let (_, ds, issuer_key) = party("Issuer", Usage::DocumentSigner);
    let (reader_root, reader_leaf, reader_key) = party("Counter", Usage::ReaderAuth);
    // 2 KiB of element values, as in the read benchmark.
    let elements = vec![(
        NS.to_string(),
        vec![
            ("family_name".to_string(), Value::Text("Yamada".into())),
            ("given_name".to_string(), Value::Text("Hanako".into())),
            ("birth_date".to_string(), Value::Text("1990-04-01".into())),
            (
                "resident_number".to_string(),
                Value::Text("JP-0123456789".into()),
            ),
            (
                "address".to_string(),
                Value::Text("1-1 Chiyoda, Chiyoda-ku, Tokyo".into()),
            ),
            ("portrait".to_string(), Value::Bytes(vec![0xA5; 1_900])),
            ("resident".to_string(), Value::Bool(true)),
        ],
    )];
    Setup {
        issuer_key,
        issuer_chain: vec![ds.der().to_vec()],
        reader_key,
        reader_chain: vec![reader_leaf.der().to_vec()],
        reader_trust: TrustList::new(vec![reader_root]),
        elements,
    }
}

#[derive(Default, Debug)]
struct Traffic {
    apdus: usize,
    bytes: usize,
}

fn exchange(
    applet: &mut HolderApplet,
    message: &[u8],
    limits: Limits,
    traffic: &mut Traffic,
    answer: impl FnOnce(Vec<u8>) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let mut answer = Some(answer);
    let (mut reader, mut command) = ReaderExchange::start(message, limits).unwrap();
    loop {
        let wire = command.to_bytes().unwrap();
        traffic.apdus += 1;
        traffic.bytes += wire.len();
        let response = match applet.process(&command) {
            AppletAction::Respond(r) => r,
            AppletAction::Message(m) => {
                let reply = (answer.take().unwrap())(m);
                applet.reply(reply.as_deref())
            }
        };
        traffic.bytes += response.data.len() + 2;
        match reader.handle_response(&response).unwrap() {
            Next::Command(next) => command = next,
            Next::Message(reply) => return reply,
        }
    }
}

/// One whole write: SELECT, the reader-authenticated key request, the phone's new key (in
/// software here) and proof, issuance, the document, the phone's checks and confirmation.
fn write(s: &Setup, reader_extended: bool) -> Traffic {
    let options = NfcOptions {
        max_command_len: 65_535,
        max_response_len: 65_536,
    };
    let (mut holder, select) = Holder::with_nfc_handover(options, &mut OsRng);
    let read = HandoverSelect::parse(select.as_bytes()).unwrap();
    let limits = Limits::negotiate(read.nfc().unwrap(), reader_extended).unwrap();
    let handover = Handover::NfcStatic {
        select: select.as_bytes().to_vec(),
    };
    let reader = Reader::new(read.engagement(), &handover, &mut OsRng);
    let (awaiting_key, establishment) =
        TerminalWrite::start(reader, DOC_TYPE, &s.reader_key, &s.reader_chain).unwrap();
    let mut traffic = Traffic::default();
    let mut applet = HolderApplet::new();
    let select_command = nfc::select_command();
    traffic.apdus += 1;
    traffic.bytes += select_command.to_bytes().unwrap().len() + 2;
    let AppletAction::Respond(_) = applet.process(&select_command) else {
        panic!()
    };
    let mut awaiting_store = None;
    let reply = exchange(&mut applet, &establishment, limits, &mut traffic, |m| {
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
        ValidityInfo {
            signed: NOW - 10,
            valid_from: NOW - 10,
            valid_until: NOW + 1_000_000,
            expected_update: None,
        },
        &s.issuer_key,
        &s.issuer_chain,
        &mut OsRng,
    );
    let (awaiting_stored, store) = received.store(&document).unwrap();
    let awaiting_store = awaiting_store.unwrap();
    let reply = exchange(&mut applet, &store, limits, &mut traffic, |m| {
        let ready = awaiting_store.handle(&m, NOW).unwrap();
        Some(ready.stored())
    });
    awaiting_stored.handle(&reply.unwrap()).unwrap();
    traffic
}

fn report(s: &Setup) {
    eprintln!("\nwriting a 2 KiB document (7 elements, reader authentication, new key):");
    eprintln!("  link            APDUs   bytes   modeled link time (424 kbit/s + 3 ms/APDU)");
    for extended in [false, true] {
        let t = write(s, extended);
        let ms =
            t.bytes as f64 * 8.0 / LINK_BITS_PER_SECOND * 1000.0 + t.apdus as f64 * TURNAROUND_MS;
        let name = if extended { "extended" } else { "short" };
        eprintln!("  {name:<14} {:>6} {:>7}   {ms:.1} ms", t.apdus, t.bytes);
    }
    eprintln!();
}

fn bench(c: &mut Criterion) {
    let s = setup();
    report(&s);
    let mut group = c.benchmark_group("offline_write_2k");
    group.bench_function("software_key", |b| b.iter(|| write(&s, true)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
