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

use ciborium::value::Value;
use criterion::{Criterion, criterion_group, criterion_main};
use kazashi_protocol::offline::engagement::NfcOptions;
use kazashi_protocol::offline::mso::ValidityInfo;
use kazashi_protocol::offline::ndef::HandoverSelect;
use kazashi_protocol::offline::nfc::{
    self, AppletAction, HolderApplet, Limits, Next, ReaderExchange,
};
use kazashi_protocol::offline::pki::{Certificate, CertificateBuilder, Profile, TrustList, Usage};
use kazashi_protocol::offline::present::{self, DocumentBuilder};
use kazashi_protocol::offline::*;
use p256::ecdsa::SigningKey;
use p256::{PublicKey, SecretKey};
use rand_core::OsRng;

const MDL: &str = "org.iso.18013.5.1.mDL";
const NS: &str = "org.iso.18013.5.1";
const NOW: u64 = 1_767_225_600;
/// The modeled link: ISO 14443 at 424 kbit/s, 3 ms turnaround per APDU (reader, driver,
/// phone's card emulation).
const LINK_BITS_PER_SECOND: f64 = 424_000.0;
const TURNAROUND_MS: f64 = 3.0;

struct Setup {
    trust: TrustList,
    reader_key: SigningKey,
    reader_chain: Vec<Vec<u8>>,
    reader_trust: TrustList,
    device_key: SecretKey,
    stored: IssuerSigned,
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
    let (root, ds, ds_key) = party("Issuer", Usage::DocumentSigner);
    let (reader_root, reader_leaf, reader_key) = party("Reader", Usage::ReaderAuth);
    let device_key = SecretKey::random(&mut OsRng);
    // 2 KiB of element values: a 1,900-byte portrait and text fields.
    let elements = vec![(
        NS.to_string(),
        vec![
            ("family_name".to_string(), Value::Text("Yamada".into())),
            ("given_name".to_string(), Value::Text("Hanako".into())),
            ("birth_date".to_string(), Value::Text("1990-04-01".into())),
            (
                "document_number".to_string(),
                Value::Text("JP-0123456789".into()),
            ),
            (
                "address".to_string(),
                Value::Text("1-1 Chiyoda, Chiyoda-ku, Tokyo".into()),
            ),
            ("portrait".to_string(), Value::Bytes(vec![0xA5; 1_900])),
            ("age_over_18".to_string(), Value::Bool(true)),
        ],
    )];
    let stored = present::issue(
        MDL,
        &elements,
        &device_key.public_key(),
        ValidityInfo {
            signed: NOW - 10,
            valid_from: NOW - 10,
            valid_until: NOW + 1_000_000,
            expected_update: None,
        },
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

/// One whole read: SELECT, request with reader authentication, response with device
/// signature or MAC, verification; the termination is not counted (the phone may just leave).
fn read(s: &Setup, reader_extended: bool, mac: bool) -> Traffic {
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
    let mut reader = Reader::new(read.engagement(), &handover, &mut OsRng);
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
    let mut traffic = Traffic::default();
    let mut applet = HolderApplet::new();
    let select_command = nfc::select_command();
    traffic.apdus += 1;
    traffic.bytes += select_command.to_bytes().unwrap().len() + 2;
    let AppletAction::Respond(_) = applet.process(&select_command) else {
        panic!()
    };
    let reply = exchange(
        &mut applet,
        &establishment,
        limits,
        &mut traffic,
        |message| {
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
        },
    );
    let ReaderEvent::Response { response, .. } = reader.handle_message(&reply.unwrap()).unwrap()
    else {
        panic!()
    };
    let doc = reader.verify(&response, &s.trust, NOW).remove(0).unwrap();
    assert_eq!(doc.items()[0].1.len(), 7);
    traffic
}

fn report(s: &Setup) {
    eprintln!("\nreading a 2 KiB document (7 elements, reader authentication on):");
    eprintln!("  link            APDUs   bytes   modeled link time (424 kbit/s + 3 ms/APDU)");
    for extended in [false, true] {
        let t = read(s, extended, false);
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
    let mut group = c.benchmark_group("offline_read_2k");
    group.bench_function("device_signature", |b| b.iter(|| read(&s, true, false)));
    group.bench_function("device_mac", |b| b.iter(|| read(&s, true, true)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
