//! Device engagement (CBOR and `mdoc:` QR text), NDEF messages and the Handover Select
//! message never panic; an accepted engagement keeps its bytes and re-encodes its methods; an
//! accepted NDEF message re-encodes to records that parse back the same.
#![no_main]

use kazashi_protocol::offline::engagement::DeviceEngagement;
use kazashi_protocol::offline::ndef::{self, HandoverSelect};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(engagement) = DeviceEngagement::parse(data) {
        assert_eq!(engagement.as_bytes(), data);
        let again = DeviceEngagement::new(
            engagement.e_device_key(),
            engagement.retrieval_methods().to_vec(),
        );
        let reparsed = DeviceEngagement::parse(again.as_bytes()).expect("our encoding parses");
        assert_eq!(reparsed.retrieval_methods(), engagement.retrieval_methods());
        assert_eq!(reparsed.e_device_key(), engagement.e_device_key());
        let qr = engagement.to_qr();
        assert_eq!(
            DeviceEngagement::from_qr(&qr)
                .expect("our QR text parses")
                .as_bytes(),
            data
        );
    }
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(engagement) = DeviceEngagement::from_qr(text) {
            assert_eq!(engagement.to_qr(), text);
        }
    }
    if let Ok(records) = ndef::parse_message(data) {
        let encoded = ndef::encode_message(&records);
        assert_eq!(ndef::parse_message(&encoded).as_ref(), Ok(&records));
    }
    if let Ok(select) = HandoverSelect::parse(data) {
        assert_eq!(select.as_bytes(), data);
    }
});
