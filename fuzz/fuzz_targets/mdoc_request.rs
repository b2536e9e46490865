//! Device and items requests never panic; accepted ones re-encode (keeping
//! `ItemsRequestBytes` and `readerAuth` as received) to bytes that parse back the same.
#![no_main]

use kazashi_protocol::offline::pki::TrustList;
use kazashi_protocol::offline::{DeviceRequest, ItemsRequest, SessionTranscript};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = DeviceRequest::parse(data) {
        let encoded = request.to_bytes();
        assert_eq!(DeviceRequest::parse(&encoded).as_ref(), Ok(&request));
        // Reader authentication against an empty trust list always fails, never panics.
        let transcript =
            SessionTranscript::from_bytes(&[0x83, 0xF6, 0xF6, 0xF6]).expect("a fixed transcript");
        for doc in &request.doc_requests {
            let result = doc.verify_reader_auth(&transcript, &TrustList::default(), 0);
            assert!(!doc.has_reader_auth() || result.is_err());
        }
    }
    if let Ok(items) = ItemsRequest::parse(data) {
        assert_eq!(ItemsRequest::parse(&items.to_bytes()).as_ref(), Ok(&items));
    }
});
