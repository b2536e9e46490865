//! BER-TLV parsing never panics; whatever parses strictly re-encodes to the same bytes, and
//! whatever parses leniently re-encodes to a minimal form that parses strictly to the same value.
#![no_main]

use kazashi_protocol::tlv::{self, Tag, Tlv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let strict = Tlv::parse(data);
    if let Ok(tlv) = &strict {
        assert_eq!(tlv.to_bytes(), data, "strict round trip differs");
    }
    match tlv::parse_all(data) {
        Ok(tlvs) => assert_eq!(tlv::encode_all(&tlvs), data, "sequence round trip differs"),
        Err(_) => assert!(strict.is_err(), "one object parses but the sequence does not"),
    }
    match tlv::parse_all_lenient(data) {
        Ok(lenient) => {
            let minimal = tlv::encode_all(&lenient);
            assert!(minimal.len() <= data.len());
            assert_eq!(tlv::parse_all(&minimal).as_ref(), Ok(&lenient));
        }
        Err(_) => assert!(tlv::parse_all(data).is_err(), "strict accepts what lenient refuses"),
    }
    if let Ok(tag) = Tag::from_bytes(data) {
        assert_eq!(tag.to_bytes(), data);
    }
});
