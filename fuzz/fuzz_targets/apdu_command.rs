//! `Command::parse` never panics, and a parsed command re-encodes in the length form it was
//! parsed from to the same bytes, which parse back to the same command.
#![no_main]

use kazashi_protocol::apdu::Command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((command, form)) = Command::parse_with_form(data) else {
        return;
    };
    let bytes = command
        .to_bytes_in(form)
        .expect("a parsed command encodes in its own form");
    assert_eq!(bytes, data, "re-encoding differs");
    assert_eq!(
        Command::parse_with_form(&bytes),
        Ok((command.clone(), form))
    );
    // The natural form is never longer and carries the same command.
    let natural = command.to_bytes().expect("a parsed command encodes");
    assert!(natural.len() <= data.len());
    assert_eq!(Command::parse(&natural), Ok(command));
});
