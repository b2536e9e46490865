//! SCP03 against the public traces of osmocom/pysim
//! `tests/unittests/test_globalplatform.py` (classes `SCP03_Test_AES{128,192,256}_{11,03,33}`):
//! KVN 30/31/32, keys 000102..0f / 101112..1f / 202122..2f (repeated to 24 and 32 bytes),
//! ISD-R AID A0000005591010FFFFFFFF8900000100, i = 70 (S8, pseudo-random challenge, R-MAC and
//! R-ENC), key diversification data all zero. Our host must produce the traces' commands
//! byte for byte and our card the traces' responses.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use kazashi_protocol::apdu::{Command, Response, StatusWord};
use kazashi_protocol::scp03::*;

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

include!("pysim/traces.rs");

fn all_traces() -> impl Iterator<Item = &'static Trace> {
    TRACES.iter().chain(GENERATED)
}

/// `KEYSET_AES{128,192,256}` of test_globalplatform.py: byte i of Key-ENC is i mod 16, of
/// Key-MAC 0x10 + i mod 16, of Key-DEK 0x20 + i mod 16.
fn keys(len: usize) -> StaticKeys {
    let key = |base: u8| (0..len).map(|i| base + (i % 16) as u8).collect::<Vec<_>>();
    StaticKeys::from_slices(&key(0x00), &key(0x10), &key(0x20)).unwrap()
}

impl Trace {
    fn kvn(&self) -> u8 {
        hex(self.init_upd_cmd)[2]
    }
    fn level(&self) -> SecurityLevel {
        SecurityLevel::from_u8(hex(self.ext_auth_cmd)[2]).unwrap()
    }
    fn host_challenge(&self) -> Challenge {
        let cmd = hex(self.init_upd_cmd);
        Challenge::from_slice(&cmd[5..cmd.len() - 1]).unwrap()
    }
    fn counter(&self) -> SequenceCounter {
        let rsp = hex(self.init_upd_rsp);
        SequenceCounter::from_bytes(rsp[rsp.len() - 3..].try_into().unwrap())
    }
    fn iu_response(&self) -> Response {
        Response::new(hex(self.init_upd_rsp), StatusWord::Ok)
    }
    fn plain_commands() -> Vec<Command> {
        std::iter::once(GET_EID_CMD_PLAIN)
            .chain(CASE_PLAIN)
            .map(|c| Command::parse(&hex(c)).unwrap())
            .collect()
    }
    fn wrapped(&self) -> Vec<Vec<u8>> {
        std::iter::once(self.get_eid_cmd)
            .chain(self.cases)
            .map(hex)
            .collect()
    }
    fn options(&self) -> ScpOptions {
        ScpOptions::from_i(hex(self.init_upd_rsp)[12]).unwrap()
    }
    fn target(&self) -> ScriptTarget {
        ScriptTarget {
            aid: Aid::new(&hex(ISD_R)).unwrap(),
            kvn: self.kvn(),
            options: self.options(),
            key_diversification_data: Some([0; 10]),
        }
    }
    fn card_config(&self) -> CardConfig {
        CardConfig {
            aid: Aid::new(&hex(ISD_R)).unwrap(),
            kvn: self.kvn(),
            key_diversification_data: [0; 10],
            options: self.options(),
            minimum_level: SecurityLevel::CMac,
        }
    }
    /// A card that has answered the trace's INITIALIZE UPDATE.
    fn card_after_iu(&self) -> (CardSession, StaticKeys) {
        let keys = keys(self.key_len);
        let mut card = CardSession::new();
        let previous = SequenceCounter::new(self.counter().value() - 1).unwrap();
        let answer = card
            .initialize_update(
                &self.card_config(),
                &keys,
                previous,
                &mut rand_core::OsRng,
                &Command::parse(&hex(self.init_upd_cmd)).unwrap(),
            )
            .unwrap();
        assert_eq!(
            answer.response.data,
            hex(self.init_upd_rsp),
            "{}",
            self.name
        );
        assert_eq!(answer.response.sw, StatusWord::Ok);
        assert_eq!(answer.new_counter, Some(self.counter()));
        (card, keys)
    }
}

#[test]
fn host_reproduces_pysim_traces() {
    for t in all_traces() {
        let keys = keys(t.key_len);
        let start = InitializeUpdateSent::new(t.kvn(), t.host_challenge())
            .expect_aid(Aid::new(&hex(ISD_R)).unwrap())
            .expect_options(t.options())
            .expect_key_diversification_data([0; 10]);
        assert_eq!(
            start.command().to_bytes().unwrap(),
            hex(t.init_upd_cmd),
            "{}",
            t.name
        );
        let authenticated = start.handle_response(&keys, &t.iu_response()).unwrap();
        assert_eq!(
            authenticated.card_info().sequence_counter,
            Some(t.counter())
        );
        let (sent, ea) = authenticated.external_authenticate(t.level()).unwrap();
        assert_eq!(ea.to_bytes().unwrap(), hex(t.ext_auth_cmd), "{}", t.name);
        let mut channel = sent
            .handle_response(&Response::status(StatusWord::Ok))
            .unwrap();
        let plain = Trace::plain_commands();
        let expected = t.wrapped();
        let (get_eid, pending) = channel.wrap(&plain[0]).unwrap();
        assert_eq!(get_eid.to_bytes().unwrap(), expected[0], "{}", t.name);
        let result = channel
            .unwrap(pending, &Response::new(hex(t.get_eid_rsp), StatusWord::Ok))
            .unwrap();
        assert_eq!(result.response().data, hex(GET_EID_RSP_PLAIN), "{}", t.name);
        assert_eq!(result.is_authenticated(), t.level().r_mac());
        for (command, bytes) in plain[1..].iter().zip(&expected[1..]) {
            let (wrapped, _) = channel.wrap(command).unwrap();
            assert_eq!(&wrapped.to_bytes().unwrap(), bytes, "{}", t.name);
        }
    }
}

#[test]
fn card_reproduces_pysim_traces() {
    for t in all_traces() {
        let (mut card, _keys) = t.card_after_iu();
        assert_eq!(
            card.external_authenticate(&hex(t.ext_auth_cmd)).unwrap(),
            Response::status(StatusWord::Ok)
        );
        assert_eq!(card.security_level(), Some(t.level()));
        let plain = Trace::plain_commands();
        let wrapped = t.wrapped();
        assert_eq!(
            card.unwrap_command(&wrapped[0]).unwrap(),
            plain[0],
            "{}",
            t.name
        );
        let response = card.wrap_response(Response::new(hex(GET_EID_RSP_PLAIN), StatusWord::Ok));
        assert_eq!(response.data, hex(t.get_eid_rsp), "{}", t.name);
        for (command, bytes) in plain[1..].iter().zip(&wrapped[1..]) {
            assert_eq!(&card.unwrap_command(bytes).unwrap(), command, "{}", t.name);
        }
    }
}

#[test]
fn script_reproduces_pysim_traces() {
    for t in all_traces() {
        let keys = keys(t.key_len);
        let script = Script::predict(
            &keys,
            &t.target(),
            t.counter(),
            t.host_challenge(),
            t.level(),
            &Trace::plain_commands(),
        )
        .unwrap();
        let mut expected = vec![hex(t.init_upd_cmd), hex(t.ext_auth_cmd)];
        expected.extend(t.wrapped());
        assert_eq!(script.to_bytes().unwrap(), expected, "{}", t.name);
        // The trace has responses for INITIALIZE UPDATE, EXTERNAL AUTHENTICATE and GET EID
        // only: the other four positions are reported missing.
        let responses = [
            t.iu_response(),
            Response::status(StatusWord::Ok),
            Response::new(hex(t.get_eid_rsp), StatusWord::Ok),
        ];
        let outcome = script.verifier().verify(&keys, &responses).unwrap();
        assert_eq!(outcome.results.len(), 5);
        let first = outcome.results[0].as_ref().unwrap();
        assert_eq!(first.response().data, hex(GET_EID_RSP_PLAIN), "{}", t.name);
        for missing in &outcome.results[1..] {
            assert_eq!(missing.as_ref().unwrap_err(), &Scp03Error::ResponseMissing);
        }
        // Built from the actual INITIALIZE UPDATE response instead: the same commands.
        let second = Script::after_initialize_update(
            &keys,
            &t.target(),
            t.host_challenge(),
            &t.iu_response(),
            t.level(),
            &Trace::plain_commands(),
        )
        .unwrap();
        assert_eq!(second.to_bytes().unwrap(), expected[1..].to_vec());
        let outcome = second.verifier().verify(&keys, &responses[1..]).unwrap();
        assert!(outcome.results[0].is_ok());
    }
}

/// For every verify vector, one flipped byte must fail (house style, after
/// RustCrypto aes-gcm/tests/common/mod.rs).
#[test]
fn pysim_traces_modified_fail() {
    for t in all_traces() {
        let keys = keys(t.key_len);
        let s = t.options().s_mode.byte_len();
        // Card cryptogram: after key information (13 bytes) and card challenge.
        let mut rsp = hex(t.init_upd_rsp);
        rsp[13 + s] ^= 0x01;
        let err = InitializeUpdateSent::new(t.kvn(), t.host_challenge())
            .handle_response(&keys, &Response::new(rsp, StatusWord::Ok))
            .unwrap_err();
        assert_eq!(err, Scp03Error::CardCryptogramMismatch, "{}", t.name);
        // Card challenge: checked against the counter when the AID is known.
        let mut rsp = hex(t.init_upd_rsp);
        rsp[13] ^= 0x01;
        let err = InitializeUpdateSent::new(t.kvn(), t.host_challenge())
            .expect_aid(Aid::new(&hex(ISD_R)).unwrap())
            .handle_response(&keys, &Response::new(rsp, StatusWord::Ok))
            .unwrap_err();
        assert_eq!(err, Scp03Error::CardChallengeMismatch, "{}", t.name);

        // Host cryptogram (6300) and EXTERNAL AUTHENTICATE C-MAC (6982).
        for (offset, error, sw) in [
            (5, Scp03Error::HostCryptogramMismatch, 0x6300),
            (5 + s, Scp03Error::CMacMismatch, 0x6982),
        ] {
            let (mut card, _) = t.card_after_iu();
            let mut ea = hex(t.ext_auth_cmd);
            ea[offset] ^= 0x01;
            let err = card.external_authenticate(&ea).unwrap_err();
            assert_eq!(err, error, "{}", t.name);
            assert_eq!(StatusWord::from(&err).to_u16(), sw);
            assert!(card.is_aborted());
            assert_eq!(
                card.unwrap_command(&t.wrapped()[0]).unwrap_err(),
                Scp03Error::NoSession
            );
        }
        // P1 is covered by the MAC.
        let (mut card, _) = t.card_after_iu();
        let mut ea = hex(t.ext_auth_cmd);
        ea[2] ^= 0x02;
        assert_eq!(
            card.external_authenticate(&ea).unwrap_err(),
            Scp03Error::CMacMismatch
        );

        // Every byte of a wrapped command: header, Lc, data or C-MAC. Not Le, which the MAC
        // excludes, nor the logical channel bits of CLA (Amendment D §6.2.4): in CLA flip b8.
        let wrapped = hex(t.get_eid_cmd);
        for i in 0..wrapped.len() - 1 {
            let (mut card, _) = t.card_after_iu();
            card.external_authenticate(&hex(t.ext_auth_cmd)).unwrap();
            let mut bad = wrapped.clone();
            bad[i] ^= if i == 0 { 0x80 } else { 0x01 };
            assert!(card.unwrap_command(&bad).is_err(), "{} byte {i}", t.name);
            assert!(card.is_aborted());
            // Closed: the genuine command is refused afterwards.
            assert_eq!(
                card.unwrap_command(&wrapped).unwrap_err(),
                Scp03Error::NoSession
            );
        }

        // Every byte of the GET EID response, where R-MAC is on.
        if t.level().r_mac() {
            let rsp = hex(t.get_eid_rsp);
            for i in 0..rsp.len() {
                let (mut channel, pending) = host_channel(t, &keys);
                let _ = &mut channel;
                let mut bad = rsp.clone();
                bad[i] ^= 0x01;
                assert_eq!(
                    channel
                        .unwrap(pending, &Response::new(bad, StatusWord::Ok))
                        .unwrap_err(),
                    Scp03Error::RMacMismatch,
                    "{} byte {i}",
                    t.name
                );
            }
            // Status word is MACed too.
            let (channel, pending) = host_channel(t, &keys);
            assert_eq!(
                channel
                    .unwrap(pending, &Response::new(rsp, StatusWord::EndOfFile))
                    .unwrap_err(),
                Scp03Error::RMacMismatch
            );
        }
    }
}

fn host_channel(t: &Trace, keys: &StaticKeys) -> (SecureChannel, PendingResponse) {
    let (sent, _) = InitializeUpdateSent::new(t.kvn(), t.host_challenge())
        .handle_response(keys, &t.iu_response())
        .unwrap()
        .external_authenticate(t.level())
        .unwrap();
    let mut channel = sent
        .handle_response(&Response::status(StatusWord::Ok))
        .unwrap();
    let (_, pending) = channel.wrap(&Trace::plain_commands()[0]).unwrap();
    (channel, pending)
}
