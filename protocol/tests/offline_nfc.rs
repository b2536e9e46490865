//! NFC data retrieval framing (18013-5 §8.3.3.1.2): our reader exchange against our holder
//! applet over encoded APDUs, short and extended, every message size around the chunk
//! boundaries; the status word rules of GET RESPONSE; refusals.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod mdoc;

use kazashi_protocol::apdu::{Command, Response, StatusWord};
use kazashi_protocol::offline::engagement::NfcOptions;
use kazashi_protocol::offline::ndef::HandoverSelect;
use kazashi_protocol::offline::nfc::{
    self, AppletAction, HolderApplet, Limits, Next, ReaderExchange,
};
use kazashi_protocol::offline::pki::Usage;
use kazashi_protocol::offline::*;
use mdoc::*;
use rand_core::OsRng;

struct Traffic {
    apdus: usize,
    bytes: usize,
    extended_seen: bool,
}

/// Sends `message` from the reader and lets `answer` produce the holder's reply; every APDU
/// crosses as bytes. Returns what the reader received and the traffic.
fn exchange(
    applet: &mut HolderApplet,
    message: &[u8],
    limits: Limits,
    answer: impl FnOnce(Vec<u8>) -> Option<Vec<u8>>,
) -> (Option<Vec<u8>>, Traffic) {
    let mut traffic = Traffic {
        apdus: 0,
        bytes: 0,
        extended_seen: false,
    };
    let (mut reader, mut command) = ReaderExchange::start(message, limits).unwrap();
    let mut answer = Some(answer);
    loop {
        assert!(command.data.len() <= limits.max_command);
        let wire = command.to_bytes().unwrap();
        traffic.apdus += 1;
        traffic.bytes += wire.len();
        let (parsed, form) = Command::parse_with_form(&wire).unwrap();
        traffic.extended_seen |= form == kazashi_protocol::apdu::LengthForm::Extended;
        let response = match applet.process(&parsed) {
            AppletAction::Respond(response) => response,
            AppletAction::Message(received) => {
                let reply = (answer.take().unwrap())(received);
                applet.reply(reply.as_deref())
            }
        };
        assert!(response.data.len() <= limits.max_response);
        let wire = response.to_bytes();
        traffic.bytes += wire.len();
        match reader
            .handle_response(&Response::parse(&wire).unwrap())
            .unwrap()
        {
            Next::Command(next) => command = next,
            Next::Message(reply) => {
                assert_eq!(reader.commands_sent(), traffic.apdus);
                return (reply, traffic);
            }
        }
    }
}

fn selected() -> HolderApplet {
    let mut applet = HolderApplet::new();
    let AppletAction::Respond(r) = applet.process(&nfc::select_command()) else {
        panic!()
    };
    assert_eq!(r.sw, StatusWord::Ok);
    applet
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn messages_of_every_size_cross_both_ways() {
    let sizes = [
        0, 1, 120, 125, 126, 127, 128, 250, 251, 252, 253, 254, 255, 256, 257, 500, 510, 511, 512,
        767, 1000, 2048, 4096, 65_530, 65_531, 65_532, 70_000,
    ];
    let extended = Limits {
        max_command: 65_535,
        max_response: 65_536,
    };
    let medium = Limits::negotiate(
        NfcOptions {
            max_command_len: 1024,
            max_response_len: 700,
        },
        true,
    )
    .unwrap();
    for limits in [Limits::SHORT, extended, medium] {
        let mut applet = selected();
        for &size in &sizes {
            let request = pattern(size, 1);
            let reply = pattern(size + 3, 2);
            let expected = reply.clone();
            let (got, traffic) = exchange(&mut applet, &request, limits, |received| {
                assert_eq!(received, request);
                Some(reply)
            });
            assert_eq!(got.as_deref(), Some(&expected[..]), "{limits:?} {size}");
            assert_eq!(traffic.extended_seen, limits.extended());
            // ENVELOPEs carry the DO 53 in max_command pieces; GET RESPONSEs fetch the rest.
            let out = nfc::encapsulate(&request)
                .len()
                .div_ceil(limits.max_command);
            let back = nfc::encapsulate(&expected)
                .len()
                .div_ceil(limits.max_response);
            assert_eq!(traffic.apdus, out + back - 1, "{limits:?} {size}");
        }
    }
}

#[test]
fn a_reply_without_a_message_is_9000_alone() {
    let mut applet = selected();
    let (got, traffic) = exchange(&mut applet, b"\xA1\x66status\x14", Limits::SHORT, |_| None);
    assert_eq!(got, None);
    assert_eq!(traffic.apdus, 1);
}

#[test]
fn get_response_status_words_follow_the_clause() {
    // 600 bytes of reply with Le 256: 256 + 61XX where XX = 600 + 4 - 256 = 348 > 255 → 6100;
    // then 256 + 61 5C (92 left); then 92 + 9000.
    let mut applet = selected();
    let envelope = Command::new(0x00, nfc::INS_ENVELOPE, 0, 0)
        .with_data(nfc::encapsulate(b"hi"))
        .with_le(256);
    let AppletAction::Message(m) = applet.process(&envelope) else {
        panic!()
    };
    assert_eq!(m, b"hi");
    let first = applet.reply(Some(&[7u8; 600]));
    assert_eq!(
        (first.data.len(), first.sw),
        (256, StatusWord::BytesRemaining(0))
    );
    assert_eq!(&first.data[..4], &[0x53, 0x82, 0x02, 0x58]);
    let get = |le| Command::new(0x00, nfc::INS_GET_RESPONSE, 0, 0).with_le(le);
    let AppletAction::Respond(second) = applet.process(&get(256)) else {
        panic!()
    };
    assert_eq!(
        (second.data.len(), second.sw),
        (256, StatusWord::BytesRemaining(92))
    );
    let AppletAction::Respond(third) = applet.process(&get(92)) else {
        panic!()
    };
    assert_eq!((third.data.len(), third.sw), (92, StatusWord::Ok));
    // Nothing left.
    let AppletAction::Respond(none) = applet.process(&get(256)) else {
        panic!()
    };
    assert_eq!(none.sw, StatusWord::ConditionsNotSatisfied);
}

#[test]
fn the_applet_refuses_what_it_does_not_expect() {
    let status = |applet: &mut HolderApplet, command: &Command| match applet.process(command) {
        AppletAction::Respond(r) => r.sw,
        AppletAction::Message(_) => panic!("unexpected message"),
    };
    let envelope = Command::new(0x00, nfc::INS_ENVELOPE, 0, 0)
        .with_data(nfc::encapsulate(b"x"))
        .with_le(256);
    let mut applet = HolderApplet::new();
    assert_eq!(
        status(&mut applet, &envelope),
        StatusWord::ConditionsNotSatisfied
    );
    let wrong_aid = Command::new(0x00, 0xA4, 0x04, 0x0C).with_data(vec![0xA0, 0, 0, 0, 0x03]);
    assert_eq!(status(&mut applet, &wrong_aid), StatusWord::FileNotFound);
    let mut applet = selected();
    let bad_do = Command::new(0x00, nfc::INS_ENVELOPE, 0, 0).with_data(vec![0x54, 0x01, 0x00]);
    assert_eq!(status(&mut applet, &bad_do), StatusWord::IncorrectData);
    let short_do = Command::new(0x00, nfc::INS_ENVELOPE, 0, 0).with_data(vec![0x53, 0x05, 0x00]);
    assert_eq!(status(&mut applet, &short_do), StatusWord::IncorrectData);
    let p1 = Command::new(0x00, nfc::INS_ENVELOPE, 1, 0).with_data(nfc::encapsulate(b"x"));
    assert_eq!(status(&mut applet, &p1), StatusWord::IncorrectP1P2);
    assert_eq!(
        status(&mut applet, &Command::new(0x00, 0xB0, 0, 0)),
        StatusWord::InsNotSupported
    );
    assert_eq!(
        status(&mut applet, &Command::new(0x80, nfc::INS_ENVELOPE, 0, 0)),
        StatusWord::ClaNotSupported
    );
    // A chain that would exceed the largest message.
    let mut applet = selected();
    let piece = Command::new(nfc::CLA_CHAINING, nfc::INS_ENVELOPE, 0, 0).with_data(vec![0; 65_535]);
    let mut last = StatusWord::Ok;
    for _ in 0..20 {
        last = status(&mut applet, &piece);
        if last != StatusWord::Ok {
            break;
        }
    }
    assert_eq!(last, StatusWord::WrongLength);
}

#[test]
fn the_reader_refuses_unexpected_status_words() {
    let limits = Limits::SHORT;
    // Error on a chained ENVELOPE.
    let (mut reader, _) = ReaderExchange::start(&[0; 600], limits).unwrap();
    assert_eq!(
        reader
            .handle_response(&Response::status(StatusWord::WrongLength))
            .unwrap_err(),
        OfflineError::UnexpectedStatusWord(StatusWord::WrongLength)
    );
    // Error (the phone went away: 6F00) on the last ENVELOPE.
    let (mut reader, _) = ReaderExchange::start(b"x", limits).unwrap();
    assert_eq!(
        reader
            .handle_response(&Response::status(StatusWord::NoPreciseDiagnosis))
            .unwrap_err(),
        OfflineError::UnexpectedStatusWord(StatusWord::NoPreciseDiagnosis)
    );
    // A reply that is not a DO 53.
    let (mut reader, _) = ReaderExchange::start(b"x", limits).unwrap();
    assert_eq!(
        reader
            .handle_response(&Response::new(vec![0x54, 0x00], StatusWord::Ok))
            .unwrap_err(),
        OfflineError::InvalidEnvelope
    );
    // Too large to send.
    assert_eq!(
        ReaderExchange::start(&vec![0; (1 << 20) + 1], limits).unwrap_err(),
        OfflineError::MessageTooLarge
    );
}

#[test]
fn limits_are_what_both_sides_allow() {
    let phone = NfcOptions {
        max_command_len: 1000,
        max_response_len: 100_000,
    };
    assert_eq!(Limits::negotiate(phone, false).unwrap(), Limits::SHORT);
    assert_eq!(
        Limits::negotiate(phone, true).unwrap(),
        Limits {
            max_command: 1000,
            max_response: 65_536
        }
    );
    let zero = NfcOptions {
        max_command_len: 0,
        max_response_len: 256,
    };
    assert_eq!(
        Limits::negotiate(zero, true),
        Err(OfflineError::NoRetrievalMethod)
    );
}

#[test]
fn a_whole_session_over_nfc_framing() {
    let issuer = Party::new("Test Issuer", Usage::DocumentSigner);
    let (device_key, stored) = issue_now(&issuer);
    let options = NfcOptions {
        max_command_len: 65_535,
        max_response_len: 65_536,
    };
    for reader_extended in [false, true] {
        let (mut holder, select) = Holder::with_nfc_handover(options, &mut OsRng);
        let read = HandoverSelect::parse(select.as_bytes()).unwrap();
        let limits = Limits::negotiate(read.nfc().unwrap(), reader_extended).unwrap();
        let handover = Handover::NfcStatic {
            select: select.as_bytes().to_vec(),
        };
        let mut reader = Reader::new(read.engagement(), &handover, &mut OsRng);
        let establishment = reader
            .request(&DeviceRequest::new(vec![DocRequest::new(
                request_items().with(MDL_NS, "portrait", false),
            )]))
            .unwrap();
        let mut applet = selected();
        let (reply, traffic) = exchange(&mut applet, &establishment, limits, |message| {
            let HolderEvent::Request(request) = holder.handle_message(&message).unwrap() else {
                panic!()
            };
            let response = answer(&holder, &request, &stored, &device_key, Auth::Signature);
            Some(holder.respond(&response).unwrap())
        });
        assert_eq!(traffic.extended_seen, reader_extended);
        let ReaderEvent::Response { response, .. } =
            reader.handle_message(&reply.unwrap()).unwrap()
        else {
            panic!()
        };
        let doc = reader
            .verify(&response, &issuer.trust(), NOW)
            .remove(0)
            .unwrap();
        assert_eq!(doc.items()[0].1.len(), 3);
        // Termination: the phone answers 9000 without data.
        let end = reader.terminate();
        let (nothing, _) = exchange(&mut applet, &end, limits, |message| {
            assert!(matches!(
                holder.handle_message(&message),
                Ok(HolderEvent::Terminated)
            ));
            None
        });
        assert_eq!(nothing, None);
    }
}

#[test]
fn static_handover_then_retrieval_on_one_phone_card() {
    use kazashi_protocol::offline::ndef_tag::{NdefTagReader, TagNext};
    use kazashi_protocol::offline::nfc::PhoneCard;

    let issuer = Party::new("Test Issuer", Usage::DocumentSigner);
    let (device_key, stored) = issue_now(&issuer);
    let options = NfcOptions {
        max_command_len: 255,
        max_response_len: 256,
    };
    let (mut holder, select) = Holder::with_nfc_handover(options, &mut OsRng);
    let mut card = PhoneCard::new(Some(select.as_bytes())).unwrap();
    let mut transmit = |command: &Command| -> Response {
        let wire = command.to_bytes().unwrap();
        match card.process(&Command::parse(&wire).unwrap()) {
            AppletAction::Respond(r) => r,
            AppletAction::Message(message) => {
                let reply = match holder.handle_message(&message).unwrap() {
                    HolderEvent::Request(request) => {
                        let response = answer(&holder, &request, &stored, &device_key, Auth::Mac);
                        Some(holder.respond(&response).unwrap())
                    }
                    HolderEvent::Terminated => None,
                };
                card.reply(reply.as_deref())
            }
        }
    };

    // Engagement: the Type 4 Tag's NDEF file is the Handover Select message.
    let (mut tag_reader, mut command) = NdefTagReader::start();
    let hs = loop {
        match tag_reader.handle_response(&transmit(&command)).unwrap() {
            TagNext::Command(next) => command = next,
            TagNext::Message(message) => break message,
        }
    };
    assert_eq!(hs, select.as_bytes());
    let read = HandoverSelect::parse(&hs).unwrap();
    let limits = Limits::negotiate(read.nfc().unwrap(), true).unwrap();
    assert_eq!(limits, Limits::SHORT);
    let mut reader = Reader::new(
        read.engagement(),
        &Handover::NfcStatic { select: hs },
        &mut OsRng,
    );

    // Data retrieval on the same card: SELECT the mdoc application, then ENVELOPEs.
    assert_eq!(transmit(&nfc::select_command()).sw, StatusWord::Ok);
    let establishment = reader
        .request(&DeviceRequest::new(vec![DocRequest::new(request_items())]))
        .unwrap();
    let (mut exchange, mut command) = ReaderExchange::start(&establishment, limits).unwrap();
    let reply = loop {
        match exchange.handle_response(&transmit(&command)).unwrap() {
            Next::Command(next) => command = next,
            Next::Message(reply) => break reply.unwrap(),
        }
    };
    let ReaderEvent::Response { response, .. } = reader.handle_message(&reply).unwrap() else {
        panic!()
    };
    let doc = reader
        .verify(&response, &issuer.trust(), NOW)
        .remove(0)
        .unwrap();
    assert_eq!(doc.device_auth(), DeviceAuthKind::Mac);

    // A card without an NDEF tag (QR engagement) refuses the tag application.
    let mut qr_card = PhoneCard::new(None).unwrap();
    let (_, select_tag) = NdefTagReader::start();
    let AppletAction::Respond(r) = qr_card.process(&select_tag) else {
        panic!()
    };
    assert_eq!(r.sw, StatusWord::FileNotFound);
}
