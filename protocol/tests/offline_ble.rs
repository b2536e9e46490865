//! BLE data retrieval framing (18013-5 §8.3.3.1.1, mdoc peripheral server mode): our reader
//! (GATT central) against our holder (GATT server) over an in-memory GATT link (two queues),
//! whole sessions at several MTUs and with a 20 KB response; chunking and reassembly at every
//! size around the chunk boundaries and with random splits; the State characteristic; and the
//! refusals (empty, oversize, badly prefixed, lost, repeated, reordered or unexpected chunks,
//! data before start, end in the middle of a message), each with its code.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod mdoc;

use std::collections::VecDeque;

use ciborium::value::Value;
use kazashi_protocol::offline::ble::{
    self, BleCentral, BlePeripheral, CentralEvent, Characteristic, PeripheralEvent, Reassembler,
};
use kazashi_protocol::offline::engagement::BleOptions;
use kazashi_protocol::offline::pki::Usage;
use kazashi_protocol::offline::present::{self, DocumentBuilder};
use kazashi_protocol::offline::*;
use mdoc::*;
use p256::SecretKey;
use p256::ecdsa::SigningKey;
use rand_core::OsRng;

const SERVICE: [u8; 16] = [
    0x45, 0xef, 0xef, 0x74, 0x2b, 0x2c, 0x4b, 0x1f, 0x8c, 0x2e, 0x6a, 0x5b, 0x3d, 0x1e, 0x90, 0x07,
];

/// The in-memory GATT link: the central's writes queued for the server, the server's
/// notifications queued for the central, both in order.
#[derive(Default)]
struct Link {
    writes: VecDeque<(Characteristic, Vec<u8>)>,
    notifications: VecDeque<(Characteristic, Vec<u8>)>,
    mtu: u16,
    largest_value: usize,
    values: usize,
}

impl Link {
    fn new(mtu: u16) -> Self {
        Self {
            mtu,
            ..Self::default()
        }
    }

    /// A value on the air: what an ATT_MTU allows, no more (a real stack refuses the rest).
    fn check(&mut self, value: &[u8]) {
        assert!(value.len() <= ble::characteristic_len(self.mtu));
        self.largest_value = self.largest_value.max(value.len());
        self.values += 1;
    }

    fn write(&mut self, characteristic: Characteristic, value: Vec<u8>) {
        self.check(&value);
        self.writes.push_back((characteristic, value));
    }

    fn notify(&mut self, characteristic: Characteristic, value: Vec<u8>) {
        self.check(&value);
        self.notifications.push_back((characteristic, value));
    }
}

/// The phone: a holder behind a GATT server.
struct Phone {
    holder: Holder,
    server: BlePeripheral,
    stored: IssuerSigned,
    device_key: SecretKey,
}

impl Phone {
    fn new(stored: IssuerSigned, device_key: SecretKey, mtu: u16) -> Self {
        Self {
            holder: Holder::new(
                vec![RetrievalMethod::Ble(BleOptions::peripheral_server(SERVICE))],
                &mut OsRng,
            ),
            server: BlePeripheral::new(mtu),
            stored,
            device_key,
        }
    }

    /// Handles every queued write; returns the server's events.
    fn run(&mut self, link: &mut Link) -> Vec<PeripheralEvent> {
        let mut events = Vec::new();
        while let Some((characteristic, value)) = link.writes.pop_front() {
            let event = self.server.on_write(characteristic, &value).unwrap();
            if let PeripheralEvent::Message(message) = &event {
                let reply = match self.holder.handle_message(message).unwrap() {
                    HolderEvent::Request(request) => {
                        let response =
                            answer_all(&self.holder, &request, &self.stored, &self.device_key);
                        self.holder.respond(&response).unwrap()
                    }
                    HolderEvent::Terminated => self.holder.terminate(),
                };
                for chunk in self.server.send(&reply).unwrap() {
                    link.notify(Characteristic::Server2Client, chunk);
                }
            }
            events.push(event);
        }
        events
    }
}

/// Like `mdoc::answer` for whatever was asked (the big document's elements too).
fn answer_all(
    holder: &Holder,
    request: &DeviceRequest,
    stored: &IssuerSigned,
    device_key: &SecretKey,
) -> DeviceResponse {
    let transcript = holder.transcript().unwrap();
    let docs = request
        .doc_requests
        .iter()
        .map(|d| {
            let selected = stored.select(|ns, e| d.items_request().requests(ns, e));
            DocumentBuilder::new(MDL, selected).sign(transcript, &SigningKey::from(device_key))
        })
        .collect();
    DeviceResponse::new(docs)
}

/// The reader's side of one message exchange over the link.
fn exchange(
    central: &mut BleCentral,
    link: &mut Link,
    phone: &mut Phone,
    message: &[u8],
) -> Vec<u8> {
    for chunk in central.send(message).unwrap() {
        link.write(Characteristic::Client2Server, chunk);
    }
    phone.run(link);
    let mut notifications = 0;
    while let Some((characteristic, value)) = link.notifications.pop_front() {
        notifications += 1;
        match central.on_notification(characteristic, &value).unwrap() {
            CentralEvent::Partial => {}
            CentralEvent::Message(reply) => {
                assert!(link.notifications.is_empty(), "chunks after the last");
                assert_eq!(
                    notifications,
                    reply.len().div_ceil(ble::characteristic_len(link.mtu) - 1)
                );
                return reply;
            }
            CentralEvent::Ended => panic!("ended"),
        }
    }
    panic!("no whole reply")
}

fn big_document(issuer: &Party, device_key: &SecretKey, portrait_len: usize) -> IssuerSigned {
    let mut elements = mdl_elements();
    let portrait: Vec<u8> = (0..portrait_len).map(|i| (i * 31 % 251) as u8).collect();
    elements[0].1[4].1 = Value::Bytes(portrait);
    present::issue(
        MDL,
        &elements,
        &device_key.public_key(),
        validity(NOW - DAY, NOW + YEAR),
        &issuer.leaf_key,
        &issuer.chain(),
        &mut OsRng,
    )
}

#[test]
fn whole_sessions_at_several_mtus_and_a_20_kb_response() {
    let issuer = Party::new("Test Issuer", Usage::DocumentSigner);
    for (mtu, portrait_len) in [(23, 4), (185, 4), (247, 20_000), (512, 4), (517, 20_000)] {
        let device_key = SecretKey::random(&mut OsRng);
        let stored = big_document(&issuer, &device_key, portrait_len);
        let mut phone = Phone::new(stored, device_key, mtu);
        let mut link = Link::new(mtu);

        // The reader, from the QR text: the service UUID to scan for.
        let engagement = DeviceEngagement::from_qr(&phone.holder.engagement().to_qr()).unwrap();
        assert_eq!(ble::peripheral_server_uuid(&engagement), Ok(SERVICE));
        let mut reader = Reader::new(&engagement, &Handover::Qr, &mut OsRng);
        let mut central = BleCentral::new(mtu);

        link.write(Characteristic::State, central.start().unwrap().to_vec());
        assert_eq!(phone.run(&mut link), [PeripheralEvent::Started]);

        let establishment = reader
            .request(&DeviceRequest::new(vec![DocRequest::new(
                request_items().with(MDL_NS, "portrait", false),
            )]))
            .unwrap();
        let reply = exchange(&mut central, &mut link, &mut phone, &establishment);
        if portrait_len > 10_000 {
            assert!(reply.len() > portrait_len, "{}", reply.len());
        }
        let ReaderEvent::Response { response, ended } = reader.handle_message(&reply).unwrap()
        else {
            panic!()
        };
        assert!(!ended);
        let doc = reader
            .verify(&response, &issuer.trust(), NOW)
            .remove(0)
            .unwrap();
        assert_eq!(doc.items()[0].1.len(), 3, "mtu {mtu}");
        assert_eq!(
            link.largest_value,
            ble::characteristic_len(mtu),
            "full chunks at mtu {mtu}"
        );

        // A second request on the same session, then the end by State 0x02.
        let again = reader
            .request(&DeviceRequest::new(vec![DocRequest::new(request_items())]))
            .unwrap();
        let reply = exchange(&mut central, &mut link, &mut phone, &again);
        assert!(matches!(
            reader.handle_message(&reply).unwrap(),
            ReaderEvent::Response { .. }
        ));
        link.write(Characteristic::State, central.end().to_vec());
        assert_eq!(phone.run(&mut link), [PeripheralEvent::Ended]);
        assert!(central.is_ended() && phone.server.is_ended());
    }
}

#[test]
fn the_phone_ends_the_session_with_state_end() {
    let issuer = Party::new("Test Issuer", Usage::DocumentSigner);
    let (device_key, stored) = issue_now(&issuer);
    let mut phone = Phone::new(stored, device_key, 185);
    let mut link = Link::new(185);
    let mut reader = Reader::new(phone.holder.engagement(), &Handover::Qr, &mut OsRng);
    let mut central = BleCentral::new(185);
    link.write(Characteristic::State, central.start().unwrap().to_vec());
    phone.run(&mut link);
    let establishment = reader
        .request(&DeviceRequest::new(vec![DocRequest::new(request_items())]))
        .unwrap();
    exchange(&mut central, &mut link, &mut phone, &establishment);
    // Between messages: a clean end, and nothing is accepted after it.
    assert_eq!(
        central.on_notification(Characteristic::State, &[ble::STATE_END]),
        Ok(CentralEvent::Ended)
    );
    assert!(central.is_ended());
    assert_eq!(central.send(b"\xa0"), Err(OfflineError::UnexpectedMessage));
    assert_eq!(
        central.on_notification(Characteristic::Server2Client, &[0x00, 0xa0]),
        Err(OfflineError::UnexpectedMessage)
    );
}

/// A message of `len` bytes that is one CBOR item: a byte string.
fn cbor_message(len: usize, seed: u8) -> Vec<u8> {
    let mut message = Vec::new();
    let body = len.saturating_sub(5);
    message.push(0x5a);
    message.extend_from_slice(&(body as u32).to_be_bytes());
    message.extend((0..body).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)));
    message
}

#[test]
fn split_and_reassemble_at_every_size_around_the_chunk_boundaries() {
    for mtu in [23u16, 24, 100, 185, 247, 512, 515, 517, 1000] {
        let payload = ble::characteristic_len(mtu) - 1;
        for len in (5..3 * payload + 3).filter(|l| l % payload <= 2 || l % payload >= payload - 2) {
            let message = cbor_message(len, mtu as u8);
            let chunks = ble::split(&message, mtu).unwrap();
            assert_eq!(chunks.len(), len.div_ceil(payload));
            for (i, chunk) in chunks.iter().enumerate() {
                let last = i + 1 == chunks.len();
                assert_eq!(chunk[0], if last { 0x00 } else { 0x01 });
                assert!(chunk.len() <= ble::characteristic_len(mtu));
                if !last {
                    assert_eq!(chunk.len(), ble::characteristic_len(mtu));
                }
            }
            let mut reassembler = Reassembler::new(ble::characteristic_len(mtu), 1 << 20);
            let mut out = None;
            for (i, chunk) in chunks.iter().enumerate() {
                let got = reassembler.push(chunk).unwrap();
                assert_eq!(got.is_some(), i + 1 == chunks.len());
                out = got.or(out);
            }
            assert_eq!(out.unwrap(), message, "mtu {mtu} len {len}");
            assert!(!reassembler.in_progress());
        }
    }
    // An empty message is one chunk `00` (and is no session message).
    assert_eq!(ble::split(&[], 23).unwrap(), [vec![0x00]]);
    assert_eq!(
        Reassembler::new(20, 100).push(&[0x00]),
        Err(OfflineError::BleIncompleteMessage)
    );
    assert_eq!(
        ble::split(&vec![0; (1 << 20) + 1], 517),
        Err(OfflineError::MessageTooLarge)
    );
}

#[test]
fn random_splits_by_a_sender_that_does_not_know_the_mtu() {
    // xorshift: reproducible, no extra dependency.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    for round in 0..300 {
        let message = cbor_message(5 + next(3000), round as u8);
        // Chunks of any size from 1 to 512 bytes, each prefixed.
        let mut chunks = Vec::new();
        let mut rest = &message[..];
        while !rest.is_empty() {
            let take = (1 + next(511)).min(rest.len());
            let (part, tail) = rest.split_at(take);
            let mut chunk = vec![if tail.is_empty() { 0x00 } else { 0x01 }];
            chunk.extend_from_slice(part);
            chunks.push(chunk);
            rest = tail;
        }
        let mut central = BleCentral::new(23).accept_chunks_up_to(ble::MAX_CHARACTERISTIC_LEN);
        central.start().unwrap();
        central.send(b"\xa0").unwrap();
        let mut got = None;
        for chunk in &chunks {
            match central
                .on_notification(Characteristic::Server2Client, chunk)
                .unwrap()
            {
                CentralEvent::Partial => {}
                CentralEvent::Message(m) => got = Some(m),
                CentralEvent::Ended => panic!(),
            }
        }
        assert_eq!(got.unwrap(), message, "round {round}");
    }
}

#[test]
fn bad_chunks_are_refused_with_their_codes() {
    let fresh = || Reassembler::new(20, 1000);
    let cases: [(&[u8], OfflineError, &str); 6] = [
        (&[], OfflineError::BleEmptyChunk, "ble_empty_chunk"),
        (
            &[0x02, 0xa0],
            OfflineError::BleInvalidPrefix,
            "ble_invalid_prefix",
        ),
        (
            &[0xff],
            OfflineError::BleInvalidPrefix,
            "ble_invalid_prefix",
        ),
        (
            &[0x80, 0xa0],
            OfflineError::BleInvalidPrefix,
            "ble_invalid_prefix",
        ),
        (
            &[0x00; 21],
            OfflineError::BleChunkTooLong,
            "ble_chunk_too_long",
        ),
        // `00` then a truncated CBOR item.
        (
            &[0x00, 0x5a, 0, 0, 0, 9, 1],
            OfflineError::BleIncompleteMessage,
            "ble_incomplete_message",
        ),
    ];
    for (chunk, error, code) in cases {
        assert_eq!(fresh().push(chunk), Err(error), "{chunk:02x?}");
        assert_eq!(error.code(), code);
        assert_eq!(error.session_status(), SessionStatus::Terminated);
    }
    // Oversize: the cap counts the whole message, across chunks.
    let mut reassembler = Reassembler::new(512, 1000);
    assert_eq!(reassembler.push(&[0x01; 501]), Ok(None));
    assert_eq!(reassembler.push(&[0x01; 501]), Ok(None));
    assert_eq!(
        reassembler.push(&[0x01; 2]),
        Err(OfflineError::MessageTooLarge)
    );
    // An error drops the partial message: the next message starts clean.
    assert!(!reassembler.in_progress());
    assert_eq!(reassembler.push(&[0x00, 0xa0]), Ok(Some(vec![0xa0])));
    // The default receive limit is the MTU's; a wider one is opt-in.
    let mut central = BleCentral::new(23);
    central.start().unwrap();
    central.send(b"\xa0").unwrap();
    assert_eq!(
        central.on_notification(Characteristic::Server2Client, &[0x01; 21]),
        Err(OfflineError::BleChunkTooLong)
    );
    assert!(central.is_ended());
}

/// The chunks of a real session establishment at MTU 23, and what the phone makes of them.
fn establishment_chunks() -> (Holder, Vec<Vec<u8>>) {
    let holder = Holder::new(
        vec![RetrievalMethod::Ble(BleOptions::peripheral_server(SERVICE))],
        &mut OsRng,
    );
    let mut reader = Reader::new(holder.engagement(), &Handover::Qr, &mut OsRng);
    let message = reader
        .request(&DeviceRequest::new(vec![DocRequest::new(request_items())]))
        .unwrap();
    let chunks = ble::split(&message, 23).unwrap();
    assert!(chunks.len() > 6);
    (holder, chunks)
}

/// Feeds chunks to a started peripheral; the first error or the message.
fn deliver(chunks: &[Vec<u8>]) -> Result<Option<Vec<u8>>, OfflineError> {
    let mut server = BlePeripheral::new(23);
    assert_eq!(
        server.on_write(Characteristic::State, &[ble::STATE_START]),
        Ok(PeripheralEvent::Started)
    );
    for chunk in chunks {
        match server.on_write(Characteristic::Client2Server, chunk)? {
            PeripheralEvent::Message(message) => return Ok(Some(message)),
            PeripheralEvent::Partial => {}
            other => panic!("{other:?}"),
        }
    }
    Ok(None)
}

#[test]
fn lost_repeated_and_reordered_chunks_are_refused() {
    let (_, chunks) = establishment_chunks();
    let n = chunks.len();

    // A lost chunk: the message is short of its CBOR length.
    let mut lost = chunks.clone();
    lost.remove(n / 2);
    assert_eq!(deliver(&lost), Err(OfflineError::BleIncompleteMessage));

    // A chunk cut short (a truncated value): the message is short of its CBOR length.
    let mut truncated = chunks.clone();
    truncated[n / 2].truncate(7);
    assert_eq!(deliver(&truncated), Err(OfflineError::BleIncompleteMessage));
    let mut truncated = chunks.clone();
    truncated[n - 1].pop();
    assert_eq!(deliver(&truncated), Err(OfflineError::BleIncompleteMessage));

    // A repeated chunk: bytes after the one CBOR item.
    let mut repeated = chunks.clone();
    repeated.insert(n / 2, chunks[n / 2].clone());
    assert_eq!(deliver(&repeated), Err(OfflineError::BleIncompleteMessage));

    // The first two chunks swapped: the CBOR header is no longer first.
    let mut swapped = chunks.clone();
    swapped.swap(0, 1);
    assert_eq!(deliver(&swapped), Err(OfflineError::BleIncompleteMessage));

    // The last chunk missing: no message (the caller's timeout ends it), and the next
    // message's chunks cannot complete it into something valid.
    assert_eq!(deliver(&chunks[..n - 1]), Ok(None));

    // Two chunks inside the ciphertext swapped: the CBOR stays well-formed, so the framing
    // delivers it, and the session refuses it: AES-GCM authenticates every byte.
    let (mut holder, chunks) = establishment_chunks();
    let mut inner = chunks.clone();
    inner.swap(n - 3, n - 2);
    let message = deliver(&inner).unwrap().unwrap();
    assert_eq!(
        holder.handle_message(&message).unwrap_err(),
        OfflineError::DecryptionFailed
    );

    // And in order, it is the reader's request.
    let (mut holder, chunks) = establishment_chunks();
    let message = deliver(&chunks).unwrap().unwrap();
    assert!(matches!(
        holder.handle_message(&message),
        Ok(HolderEvent::Request(_))
    ));
}

#[test]
fn a_chunk_when_no_message_is_due_is_refused() {
    // The phone: a chunk after the last chunk of the request, before it answered.
    let (_, chunks) = establishment_chunks();
    let mut server = BlePeripheral::new(23);
    server
        .on_write(Characteristic::State, &[ble::STATE_START])
        .unwrap();
    for chunk in &chunks {
        server
            .on_write(Characteristic::Client2Server, chunk)
            .unwrap();
    }
    assert_eq!(
        server.on_write(Characteristic::Client2Server, &[0x00, 0xa0]),
        Err(OfflineError::BleUnexpectedChunk)
    );
    assert_eq!(
        OfflineError::BleUnexpectedChunk.code(),
        "ble_unexpected_chunk"
    );
    assert!(server.is_ended());
    assert_eq!(server.send(b"\xa0"), Err(OfflineError::UnexpectedMessage));

    // The reader: a notification before it asked, and one after the whole answer.
    let mut central = BleCentral::new(185);
    central.start().unwrap();
    assert_eq!(
        central.on_notification(Characteristic::Server2Client, &[0x00, 0xa0]),
        Err(OfflineError::BleUnexpectedChunk)
    );
    let mut central = BleCentral::new(185);
    central.start().unwrap();
    central.send(b"\xa0").unwrap();
    assert_eq!(
        central.on_notification(Characteristic::Server2Client, &[0x00, 0xa0]),
        Ok(CentralEvent::Message(vec![0xa0]))
    );
    assert_eq!(
        central.on_notification(Characteristic::Server2Client, &[0x00, 0xa0]),
        Err(OfflineError::BleUnexpectedChunk)
    );
    // Notifications on a characteristic the server does not notify, and a second send while
    // an answer is due.
    let mut central = BleCentral::new(185);
    central.start().unwrap();
    central.send(b"\xa0").unwrap();
    assert_eq!(central.send(b"\xa0"), Err(OfflineError::UnexpectedMessage));
    let mut central = BleCentral::new(185);
    central.start().unwrap();
    assert_eq!(
        central.on_notification(Characteristic::Client2Server, &[0x00, 0xa0]),
        Err(OfflineError::UnexpectedMessage)
    );
}

#[test]
fn state_handling() {
    // Data before State start, on either side.
    let mut server = BlePeripheral::new(23);
    assert_eq!(
        server.on_write(Characteristic::Client2Server, &[0x00, 0xa0]),
        Err(OfflineError::BleNotStarted)
    );
    assert_eq!(OfflineError::BleNotStarted.code(), "ble_not_started");
    let mut central = BleCentral::new(23);
    assert_eq!(central.send(b"\xa0"), Err(OfflineError::BleNotStarted));
    assert_eq!(
        BleCentral::new(23).on_notification(Characteristic::Server2Client, &[0x00, 0xa0]),
        Err(OfflineError::BleNotStarted)
    );

    // A second start, an unknown State value, an empty or long State value.
    let mut server = BlePeripheral::new(23);
    server
        .on_write(Characteristic::State, &[ble::STATE_START])
        .unwrap();
    assert_eq!(
        server.on_write(Characteristic::State, &[ble::STATE_START]),
        Err(OfflineError::BleInvalidState)
    );
    for value in [&[0x03][..], &[], &[0x01, 0x02], &[0x00]] {
        let mut server = BlePeripheral::new(23);
        assert_eq!(
            server.on_write(Characteristic::State, value),
            Err(OfflineError::BleInvalidState),
            "{value:02x?}"
        );
        assert!(server.is_ended());
    }
    let mut central = BleCentral::new(23);
    central.start().unwrap();
    assert_eq!(central.start(), Err(OfflineError::BleInvalidState));
    let mut central = BleCentral::new(23);
    central.start().unwrap();
    assert_eq!(
        central.on_notification(Characteristic::State, &[ble::STATE_START]),
        Err(OfflineError::BleInvalidState)
    );
    assert_eq!(OfflineError::BleInvalidState.code(), "ble_invalid_state");

    // End before start: a clean end (the reader gave up).
    let mut server = BlePeripheral::new(23);
    assert_eq!(
        server.on_write(Characteristic::State, &[ble::STATE_END]),
        Ok(PeripheralEvent::Ended)
    );

    // State end in the middle of a message, on either side.
    let (_, chunks) = establishment_chunks();
    let mut server = BlePeripheral::new(23);
    server
        .on_write(Characteristic::State, &[ble::STATE_START])
        .unwrap();
    server
        .on_write(Characteristic::Client2Server, &chunks[0])
        .unwrap();
    assert_eq!(
        server.on_write(Characteristic::State, &[ble::STATE_END]),
        Err(OfflineError::BleTransferCut)
    );
    assert_eq!(OfflineError::BleTransferCut.code(), "ble_transfer_cut");
    assert!(server.is_ended());
    assert_eq!(
        server.on_write(Characteristic::Client2Server, &chunks[1]),
        Err(OfflineError::UnexpectedMessage)
    );
    let mut central = BleCentral::new(23);
    central.start().unwrap();
    central.send(b"\xa0").unwrap();
    assert_eq!(
        central.on_notification(Characteristic::Server2Client, &chunks[0]),
        Ok(CentralEvent::Partial)
    );
    assert_eq!(
        central.on_notification(Characteristic::State, &[ble::STATE_END]),
        Err(OfflineError::BleTransferCut)
    );
    assert!(central.is_ended());
}

#[test]
fn the_service_uuid_comes_from_the_engagement() {
    let key = SecretKey::random(&mut OsRng).public_key();
    let engagement =
        |methods| DeviceEngagement::from_qr(&DeviceEngagement::new(&key, methods).to_qr()).unwrap();
    let both = BleOptions {
        central_client: true,
        central_client_uuid: Some([9; 16]),
        address: Some(vec![1, 2, 3, 4, 5, 6]),
        ..BleOptions::peripheral_server(SERVICE)
    };
    let read = engagement(vec![RetrievalMethod::Ble(both.clone())]);
    assert_eq!(read.ble(), Some(&both));
    assert_eq!(ble::peripheral_server_uuid(&read), Ok(SERVICE));

    // Central client mode only, peripheral mode without a UUID, or no BLE at all: none.
    let central_only = BleOptions {
        peripheral_server: false,
        peripheral_server_uuid: None,
        ..both.clone()
    };
    let no_uuid = BleOptions {
        peripheral_server_uuid: None,
        ..both.clone()
    };
    let nfc = RetrievalMethod::Nfc(engagement::NfcOptions {
        max_command_len: 255,
        max_response_len: 256,
    });
    for methods in [
        vec![RetrievalMethod::Ble(central_only)],
        vec![RetrievalMethod::Ble(no_uuid)],
        vec![nfc],
        vec![],
    ] {
        assert_eq!(
            ble::peripheral_server_uuid(&engagement(methods)),
            Err(OfflineError::NoRetrievalMethod)
        );
    }
}
