//! Claims parsing and the applet's command parser never panic; accepted applet commands
//! re-encode to themselves; relay scripts and reports parse or refuse cleanly.
#![no_main]

use kazashi_protocol::apdu::Command;
use kazashi_protocol::envelope::{CommandClaims, ResultClaims};
use kazashi_protocol::idstore::Request;
use kazashi_protocol::online::{RelayReport, RelayScript};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(object) = kazashi_protocol::jose::json::parse_object(data) {
        // Accepted claims write back to text that reads as the same claims.
        if let Ok(claims) = CommandClaims::from_object(object.clone()) {
            let _ = claims.validate();
            assert_eq!(CommandClaims::from_json(claims.to_json().as_bytes()), Ok(claims));
        }
        if let Ok(claims) = ResultClaims::from_object(object.clone()) {
            let _ = claims.validate();
            assert_eq!(ResultClaims::from_json(claims.to_json().as_bytes()), Ok(claims));
        }
        // Parsed JSON writes back to text that parses to the same value.
        let again = kazashi_protocol::jose::json::parse_object(object.to_json().as_bytes());
        assert_eq!(again.as_ref(), Ok(&object));
    }
    if let Ok(script) = serde_json::from_slice::<RelayScript>(data) {
        if let Ok(mut run) = script.start() {
            while run.next_apdu().is_some() {
                run.handle_response(&[0x90, 0x00]);
            }
        }
    }
    if let Ok(report) = serde_json::from_slice::<RelayReport>(data) {
        let _ = report.rapdus.len();
    }
    if let Ok(command) = Command::parse(data) {
        if let Ok(request) = Request::parse(&command) {
            let again = request.to_command();
            assert_eq!(Request::parse(&again), Ok(request));
        }
    }
});
