//! Session messages and the holder's state machine never panic on any input; accepted
//! messages re-encode to a form that parses back to the same message.
#![no_main]

use kazashi_protocol::offline::session::{SessionData, SessionEstablishment};
use kazashi_protocol::offline::{
    DeviceEngagement, Handover, Holder, HolderEvent, SessionTranscript,
};
use libfuzzer_sys::fuzz_target;
use p256::SecretKey;
use std::sync::OnceLock;

fn key() -> SecretKey {
    SecretKey::from_slice(&[0x42; 32]).expect("a valid scalar")
}

/// The holder's engagement, computed once (a scalar multiplication per input would dominate).
fn engagement() -> &'static DeviceEngagement {
    static ENGAGEMENT: OnceLock<DeviceEngagement> = OnceLock::new();
    ENGAGEMENT.get_or_init(|| DeviceEngagement::new(&key().public_key(), Vec::new()))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(establishment) = SessionEstablishment::parse(data) {
        let encoded = establishment.to_bytes();
        assert_eq!(
            SessionEstablishment::parse(&encoded).as_ref(),
            Ok(&establishment)
        );
    }
    if let Ok(message) = SessionData::parse(data) {
        let encoded = message.to_bytes();
        assert_eq!(SessionData::parse(&encoded).as_ref(), Ok(&message));
    }
    if let Ok(transcript) = SessionTranscript::from_bytes(data) {
        assert_eq!(
            SessionTranscript::from_bytes(&transcript.tagged_bytes()).as_ref(),
            Ok(&transcript)
        );
    }
    // A holder with a fixed key: whatever arrives, it answers or refuses, and after a refusal
    // it is ended.
    let mut holder = Holder::with_engagement(key(), engagement().clone(), Handover::Qr);
    match holder.handle_message(data) {
        Ok(HolderEvent::Request(_)) => assert!(holder.transcript().is_some()),
        Ok(HolderEvent::Terminated) | Err(_) => {
            assert!(holder.is_ended());
            let _ = holder.abort(&kazashi_protocol::offline::OfflineError::MalformedCbor);
        }
    }
});
