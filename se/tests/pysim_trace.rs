//! The virtual chip itself against the public pySim SCP03 traces (osmocom/pysim
//! `tests/unittests/test_globalplatform.py`, shared with the protocol crate's tests): configured
//! with a trace's keys, ISD AID, key diversification data and sequence counter, `VirtualCard`
//! answers the trace's INITIALIZE UPDATE byte for byte, accepts its EXTERNAL AUTHENTICATE, and
//! accepts every wrapped command of the trace (their MACs and encryption verify; what the
//! commands ask of an eUICC's ISD-R is answered as our ISD answers it).

#![allow(clippy::unwrap_used, dead_code, reason = "test data and helpers")]

use kazashi_protocol::apdu::{Response, StatusWord};
use kazashi_protocol::scp03::{SMode, ScpOptions, SecurityLevel};
use kazashi_se::state::{HexBytes, Secret};
use kazashi_se::{CardState, ChallengeMode, KeySet, Profile, VirtualCard};

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

include!("../../protocol/tests/pysim/traces.rs");

fn profile(t: &Trace) -> Profile {
    let key = |base: u8| Secret::new((0..t.key_len).map(|i| base + (i % 16) as u8).collect());
    let iu = hex(t.init_upd_rsp);
    let options = ScpOptions::from_i(iu[12]).unwrap();
    let counter = u32::from_be_bytes([0, iu[iu.len() - 3], iu[iu.len() - 2], iu[iu.len() - 1]]);
    let mut profile = Profile::random(&mut rand_core::OsRng);
    profile.isd_aid = HexBytes(hex(ISD_R));
    profile.kvn = hex(t.init_upd_cmd)[2];
    profile.keys = KeySet {
        enc: key(0x00),
        mac: key(0x10),
        dek: key(0x20),
    };
    profile.kdd = HexBytes(vec![0; 10]);
    profile.s16 = options.s_mode == SMode::S16;
    profile.challenge = ChallengeMode::PseudoRandom;
    // The profile keeps the value the next INITIALIZE UPDATE reports: the trace's.
    profile.sequence_counter = counter;
    profile
}

#[test]
fn virtual_card_reproduces_the_pysim_traces() {
    for t in TRACES.iter().chain(GENERATED) {
        let mut card = VirtualCard::in_memory(CardState::new(profile(t)));
        let select = [&hex("00A4040010")[..], &hex(ISD_R), &[0x00]].concat();
        assert_eq!(
            Response::parse(&card.process(&select)).unwrap().sw,
            StatusWord::Ok
        );

        let iu = Response::parse(&card.process(&hex(t.init_upd_cmd))).unwrap();
        assert_eq!(iu.sw, StatusWord::Ok, "{}", t.name);
        assert_eq!(
            iu.data,
            hex(t.init_upd_rsp),
            "{}: INITIALIZE UPDATE answer",
            t.name
        );

        let ea = Response::parse(&card.process(&hex(t.ext_auth_cmd))).unwrap();
        assert_eq!(ea.sw, StatusWord::Ok, "{}: EXTERNAL AUTHENTICATE", t.name);
        let level = SecurityLevel::from_u8(hex(t.ext_auth_cmd)[2]).unwrap();
        assert_eq!(card.security_level(), Some(level));

        for wrapped in std::iter::once(t.get_eid_cmd).chain(t.cases) {
            let sw = Response::parse(&card.process(&hex(wrapped))).unwrap().sw;
            assert!(
                !matches!(
                    sw,
                    StatusWord::SecurityStatusNotSatisfied
                        | StatusWord::SmDataObjectsIncorrect
                        | StatusWord::WrongLength
                ),
                "{}: {wrapped} refused by secure messaging ({sw})",
                t.name
            );
            assert_eq!(
                card.security_level(),
                Some(level),
                "{}: session closed after {wrapped}",
                t.name
            );
        }
    }
}
