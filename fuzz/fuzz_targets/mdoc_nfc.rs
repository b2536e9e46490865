//! NFC framing never panics: the phone card (NDEF Type 4 Tag and mdoc applet) takes any
//! sequence of command APDUs, and the reader exchange and the tag reader any sequence of
//! responses, each ending in a message or an error.
#![no_main]

use kazashi_protocol::apdu::{Command, Response};
use kazashi_protocol::offline::ndef_tag::{NdefTagReader, TagNext};
use kazashi_protocol::offline::nfc::{
    self, AppletAction, HolderApplet, Limits, Next, PhoneCard, ReaderExchange,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Input: a sequence of [len: u16 BE][bytes] frames.
    let mut frames = Vec::new();
    let mut rest = data;
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        frames.push(&tail[..len]);
        rest = &tail[len..];
    }

    let mut applet = HolderApplet::new();
    for frame in &frames {
        if let Ok(command) = Command::parse(frame) {
            match applet.process(&command) {
                AppletAction::Respond(response) => {
                    let le = command.le.map_or(256, |ne| ne as usize);
                    assert!(response.data.len() <= le);
                }
                AppletAction::Message(message) => {
                    let _ = applet.reply(Some(&message));
                }
            }
        }
    }

    // The phone card serving a small NDEF message.
    if let Ok(mut card) = PhoneCard::new(Some(&[0xD1, 0x01, 0x01, b'T', 0x00])) {
        for frame in &frames {
            if let Ok(command) = Command::parse(frame) {
                if let AppletAction::Message(message) = card.process(&command) {
                    let _ = card.reply(Some(&message));
                }
            }
        }
    }
    let (mut tag_reader, _) = NdefTagReader::start();
    for frame in &frames {
        let Ok(response) = Response::parse(frame) else {
            continue;
        };
        match tag_reader.handle_response(&response) {
            Ok(TagNext::Command(command)) => assert!(command.to_bytes().is_ok()),
            Ok(TagNext::Message(_)) | Err(_) => break,
        }
    }

    let limits = if data.first().is_some_and(|b| b & 1 == 1) {
        Limits {
            max_command: 300,
            max_response: 1000,
        }
    } else {
        Limits::SHORT
    };
    let Ok((mut reader, _)) = ReaderExchange::start(data, limits) else {
        return;
    };
    for frame in &frames {
        let Ok(response) = Response::parse(frame) else {
            continue;
        };
        match reader.handle_response(&response) {
            Ok(Next::Command(command)) => {
                assert!(command.data.len() <= limits.max_command);
            }
            Ok(Next::Message(_)) | Err(_) => break,
        }
    }
    let _ = nfc::decapsulate(data);
});
