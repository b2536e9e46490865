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
        let value = serde_json::Value::Object(object);
        if let Ok(claims) = serde_json::from_value::<CommandClaims>(value.clone()) {
            let _ = claims.validate();
        }
        if let Ok(claims) = serde_json::from_value::<ResultClaims>(value.clone()) {
            let _ = claims.validate();
        }
        if let Ok(script) = serde_json::from_value::<RelayScript>(value.clone()) {
            if let Ok(mut run) = script.start() {
                while run.next_apdu().is_some() {
                    run.handle_response(&[0x90, 0x00]);
                }
            }
        }
        if let Ok(report) = serde_json::from_value::<RelayReport>(value) {
            let _ = report.rapdus.len();
        }
    }
    if let Ok(command) = Command::parse(data) {
        if let Ok(request) = Request::parse(&command) {
            let again = request.to_command();
            assert_eq!(Request::parse(&again), Ok(request));
        }
    }
});
