//! `Response::parse` never panics, and a parsed response re-encodes to the same bytes.
#![no_main]

use kazashi_protocol::apdu::{Response, StatusWord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(response) = Response::parse(data) else {
        assert!(data.len() < 2, "only inputs without a status word may fail");
        return;
    };
    assert_eq!(response.to_bytes(), data, "re-encoding differs");
    assert_eq!(Response::parse(&response.to_bytes()), Ok(response.clone()));
    let sw = response.sw;
    assert_eq!(
        StatusWord::from_u16(sw.to_u16()),
        sw,
        "status word not canonical"
    );
});
