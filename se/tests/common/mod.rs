//! Host-side helpers shared by the virtual card's tests: a GlobalPlatform host over any
//! `CardTransport`, built on `kazashi_protocol::scp03`.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "test helpers: a failure should fail the test"
)]

pub mod procs;

use kazashi_protocol::apdu::{Command, Response, StatusWord};
use kazashi_protocol::idstore::{self, Reply, Request, Slot};
use kazashi_protocol::scp03::{
    Aid, Challenge, InitializeUpdateSent, SMode, SecureChannel, SecurityLevel, StaticKeys,
    select_by_aid,
};
use kazashi_se::state::{HexBytes, Secret};
use kazashi_se::{CardState, CardTransport, KeySet, Profile};

pub const ENC: [u8; 16] = *b"kazashi-test-enc";
pub const MAC: [u8; 16] = *b"kazashi-test-mac";
pub const DEK: [u8; 16] = *b"kazashi-test-dek";

pub fn profile() -> Profile {
    let mut profile = Profile::random(&mut rand_core::OsRng);
    profile.keys = KeySet {
        enc: Secret::new(ENC.to_vec()),
        mac: Secret::new(MAC.to_vec()),
        dek: Secret::new(DEK.to_vec()),
    };
    profile.kdd = HexBytes(vec![0x11; 10]);
    profile.sequence_counter = 5;
    profile
}

pub fn state() -> CardState {
    CardState::new(profile())
}

pub fn keys() -> StaticKeys {
    StaticKeys::from_slices(&ENC, &MAC, &DEK).unwrap()
}

pub fn send(card: &mut impl CardTransport, command: &Command) -> Response {
    let bytes = card.transmit(&command.to_bytes().unwrap()).unwrap();
    Response::parse(&bytes).unwrap()
}

pub fn select(card: &mut impl CardTransport, aid: &[u8]) -> Response {
    send(card, &select_by_aid(&Aid::new(aid).unwrap()))
}

/// SELECT the ID-store applet and open an SCP03 session at `level`.
pub fn open(card: &mut impl CardTransport, level: SecurityLevel, s16: bool) -> SecureChannel {
    assert_eq!(select(card, &idstore::AID).sw, StatusWord::Ok);
    open_selected(card, level, s16)
}

pub fn open_selected(
    card: &mut impl CardTransport,
    level: SecurityLevel,
    s16: bool,
) -> SecureChannel {
    let mode = if s16 { SMode::S16 } else { SMode::S8 };
    let host = InitializeUpdateSent::new(0, Challenge::random(mode, &mut rand_core::OsRng));
    let response = send(card, &host.command());
    let authenticated = host.handle_response(&keys(), &response).unwrap();
    let (sent, command) = authenticated.external_authenticate(level).unwrap();
    let response = send(card, &command);
    sent.handle_response(&response).unwrap()
}

/// Wraps, sends and unwraps one applet request; the card's answer as a reply or status word.
pub fn run(
    card: &mut impl CardTransport,
    channel: &mut SecureChannel,
    request: &Request,
) -> Result<Reply, StatusWord> {
    let (wrapped, pending) = channel.wrap(&request.to_command()).unwrap();
    let response = send(card, &wrapped);
    let result = channel
        .unwrap(pending, &response)
        .expect("response protection verifies");
    request.parse_reply(result.response()).map_err(|e| match e {
        idstore::ReplyError::Status(sw) => sw,
        other => panic!("malformed reply: {other:?}"),
    })
}

pub fn slot(name: &str) -> Slot {
    Slot::new("city-hall", name)
}
