//! SCP03 host ↔ card round trips over every level × S8/S16 × AES-128/192/256 ×
//! pseudo-random/random challenge, and the failure cases of GPC Amendment D §5.6.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use kazashi_protocol::apdu::{Command, Response, StatusWord};
use kazashi_protocol::scp03::*;
use rand_core::OsRng;

const AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00];

fn keys(len: usize, seed: u8) -> StaticKeys {
    let key = |k: u8| (0..len as u8).map(|i| seed ^ k ^ i).collect::<Vec<_>>();
    StaticKeys::from_slices(&key(0x11), &key(0x22), &key(0x33)).unwrap()
}

fn config(s_mode: SMode, challenge: ChallengeMode) -> CardConfig {
    CardConfig {
        aid: Aid::new(&AID).unwrap(),
        kvn: 0x30,
        key_diversification_data: [7; 10],
        options: ScpOptions {
            s_mode,
            challenge,
            response: ResponseProtection::RMacREnc,
        },
        minimum_level: SecurityLevel::CMac,
    }
}

fn target(config: &CardConfig) -> ScriptTarget {
    ScriptTarget {
        aid: config.aid.clone(),
        kvn: config.kvn,
        options: config.options,
        key_diversification_data: Some(config.key_diversification_data),
    }
}

fn commands() -> Vec<Command> {
    vec![
        Command::new(0x80, 0xF2, 0x20, 0x02),
        Command::new(0x80, 0xCA, 0x00, 0x66).with_le(256),
        Command::new(0x80, 0xE2, 0x90, 0x00).with_data(vec![0x5A]),
        Command::new(0x80, 0xE2, 0x90, 0x00).with_data(vec![0xA5; 16]),
        Command::new(0x80, 0xE2, 0x90, 0x00)
            .with_data(vec![0x3C; 200])
            .with_le(256),
        Command::new(0x00, 0xB0, 0x00, 0x00).with_data(vec![1; 300]),
        // Logical channel 1: sent, not MACed (§6.2.4).
        Command::new(0x81, 0xCA, 0x00, 0x66).with_le(16),
    ]
}

fn responses() -> Vec<Response> {
    vec![
        Response::status(StatusWord::Ok),
        Response::new(vec![0x66; 20], StatusWord::Ok),
        Response::new(vec![0x01, 0x02], StatusWord::EndOfFile),
        Response::new(vec![0x99; 3], StatusWord::FileNotFound),
        Response::new(vec![0x42; 16], StatusWord::Ok),
        Response::new(vec![0x17; 400], StatusWord::Ok),
        Response::status(StatusWord::Counter(2)),
    ]
}

fn same_command(a: &Command, b: &Command) -> bool {
    (a.cla, a.ins, a.p1, a.p2, &a.data) == (b.cla, b.ins, b.p1, b.p2, &b.data)
        && a.le.is_some() == b.le.is_some()
}

/// What the host should get back for `sent` at `level`.
fn expected_result(level: SecurityLevel, sent: &Response) -> CommandResult {
    let protected = sent.sw == StatusWord::Ok || matches!(sent.sw.to_u16() >> 8, 0x62 | 0x63);
    match (level.r_mac(), protected) {
        (false, _) => CommandResult::Unauthenticated(sent.clone()),
        (true, true) => CommandResult::Authenticated(sent.clone()),
        (true, false) => CommandResult::Unauthenticated(Response::status(sent.sw)),
    }
}

#[test]
fn interactive_round_trips_all_combinations() {
    for key_len in [16, 24, 32] {
        for s_mode in [SMode::S8, SMode::S16] {
            for challenge in [ChallengeMode::PseudoRandom, ChallengeMode::Random] {
                for level in SecurityLevel::ALL {
                    let what = format!("{key_len} {s_mode:?} {challenge:?} {level:?}");
                    let config = config(s_mode, challenge);
                    let (host_keys, card_keys) = (keys(key_len, 1), keys(key_len, 1));
                    let mut card = CardSession::new();
                    let start =
                        InitializeUpdateSent::new(0x30, Challenge::random(s_mode, &mut OsRng))
                            .expect_aid(config.aid.clone())
                            .expect_options(config.options);
                    let counter = SequenceCounter::new(9).unwrap();
                    let answer = card
                        .initialize_update(
                            &config,
                            &card_keys,
                            counter,
                            &mut OsRng,
                            &start.command(),
                        )
                        .unwrap();
                    let expected_counter = match challenge {
                        ChallengeMode::PseudoRandom => counter.next(),
                        ChallengeMode::Random => None,
                    };
                    assert_eq!(answer.new_counter, expected_counter, "{what}");
                    let (sent, ea) = start
                        .handle_response(&host_keys, &answer.response)
                        .unwrap()
                        .external_authenticate(level)
                        .unwrap();
                    let ea_response = card.external_authenticate(&ea.to_bytes().unwrap()).unwrap();
                    let mut host = sent.handle_response(&ea_response).unwrap();
                    assert_eq!(card.security_level(), Some(level));
                    for (command, response) in commands().iter().zip(responses()) {
                        let (wrapped, pending) = host.wrap(command).unwrap();
                        let bytes = wrapped.to_bytes().unwrap();
                        let plain = card.unwrap_command(&bytes).unwrap();
                        assert!(same_command(&plain, command), "{what} {command:?}");
                        let protected = card.wrap_response(response.clone());
                        let result = host.unwrap(pending, &protected).unwrap();
                        assert_eq!(result, expected_result(level, &response), "{what}");
                    }
                }
            }
        }
    }
}

#[test]
fn script_round_trips_all_combinations() {
    for key_len in [16, 24, 32] {
        for s_mode in [SMode::S8, SMode::S16] {
            for challenge in [ChallengeMode::PseudoRandom, ChallengeMode::Random] {
                for level in SecurityLevel::ALL {
                    let what = format!("{key_len} {s_mode:?} {challenge:?} {level:?}");
                    let config = config(s_mode, challenge);
                    let server_keys = keys(key_len, 2);
                    let card_keys = keys(key_len, 2);
                    let mut card = CardSession::new();
                    let stored = SequenceCounter::new(0x0100).unwrap();
                    let host_challenge = Challenge::random(s_mode, &mut OsRng);
                    let mut responses_out = Vec::new();
                    let script = match challenge {
                        ChallengeMode::PseudoRandom => {
                            let script = Script::predict(
                                &server_keys,
                                &target(&config),
                                stored.next().unwrap(),
                                host_challenge,
                                level,
                                &commands(),
                            )
                            .unwrap();
                            let iu = &script.commands()[0];
                            let answer = card
                                .initialize_update(&config, &card_keys, stored, &mut OsRng, iu)
                                .unwrap();
                            responses_out.push(answer.response);
                            script
                        }
                        ChallengeMode::Random => {
                            assert_eq!(
                                Script::predict(
                                    &server_keys,
                                    &target(&config),
                                    stored,
                                    host_challenge,
                                    level,
                                    &commands()
                                )
                                .unwrap_err(),
                                Scp03Error::ChallengeNotPredictable
                            );
                            // Two round trips: INITIALIZE UPDATE first.
                            let iu = initialize_update(0x30, &host_challenge);
                            let answer = card
                                .initialize_update(&config, &card_keys, stored, &mut OsRng, &iu)
                                .unwrap();
                            Script::after_initialize_update(
                                &server_keys,
                                &target(&config),
                                host_challenge,
                                &answer.response,
                                level,
                                &commands(),
                            )
                            .unwrap()
                        }
                    };
                    let skip = responses_out.len();
                    let ea = &script.commands()[skip];
                    responses_out
                        .push(card.external_authenticate(&ea.to_bytes().unwrap()).unwrap());
                    for (wrapped, response) in script.commands()[skip + 1..].iter().zip(responses())
                    {
                        card.unwrap_command(&wrapped.to_bytes().unwrap()).unwrap();
                        responses_out.push(card.wrap_response(response));
                    }
                    let outcome = script
                        .verifier()
                        .verify(&server_keys, &responses_out)
                        .unwrap();
                    assert_eq!(outcome.extra_responses, 0);
                    for (result, sent) in outcome.results.into_iter().zip(responses()) {
                        assert_eq!(result.unwrap(), expected_result(level, &sent), "{what}");
                    }
                }
            }
        }
    }
}

/// A host, a card and an open session between them.
fn open_session(level: SecurityLevel, s_mode: SMode) -> (SecureChannel, CardSession) {
    let config = config(s_mode, ChallengeMode::PseudoRandom);
    let mut card = CardSession::new();
    let start = InitializeUpdateSent::new(0x30, Challenge::random(s_mode, &mut OsRng));
    let answer = card
        .initialize_update(
            &config,
            &keys(16, 3),
            SequenceCounter::ZERO,
            &mut OsRng,
            &start.command(),
        )
        .unwrap();
    let (sent, ea) = start
        .handle_response(&keys(16, 3), &answer.response)
        .unwrap()
        .external_authenticate(level)
        .unwrap();
    let response = card.external_authenticate(&ea.to_bytes().unwrap()).unwrap();
    (sent.handle_response(&response).unwrap(), card)
}

fn wrap_bytes(host: &mut SecureChannel, command: &Command) -> Vec<u8> {
    host.wrap(command).unwrap().0.to_bytes().unwrap()
}

#[test]
fn replayed_and_reordered_commands_close_the_session() {
    let command = Command::new(0x80, 0xE2, 0x90, 0x00).with_data(vec![1, 2, 3]);
    // Replay.
    let (mut host, mut card) = open_session(SecurityLevel::Full, SMode::S8);
    let first = wrap_bytes(&mut host, &command);
    card.unwrap_command(&first).unwrap();
    let err = card.unwrap_command(&first).unwrap_err();
    assert_eq!(err, Scp03Error::CMacMismatch);
    assert_eq!(
        StatusWord::from(&err),
        StatusWord::SecurityStatusNotSatisfied
    );
    assert!(card.is_aborted());
    let second = wrap_bytes(&mut host, &command);
    assert_eq!(
        card.unwrap_command(&second).unwrap_err(),
        Scp03Error::NoSession
    );
    // Reorder.
    let (mut host, mut card) = open_session(SecurityLevel::CMac, SMode::S16);
    let a = wrap_bytes(&mut host, &command);
    let b = wrap_bytes(&mut host, &command);
    assert_eq!(
        card.unwrap_command(&b).unwrap_err(),
        Scp03Error::CMacMismatch
    );
    assert_eq!(card.unwrap_command(&a).unwrap_err(), Scp03Error::NoSession);
    // A new session after INITIALIZE UPDATE or SELECT works again.
    card.close();
    assert!(!card.is_aborted());
}

#[test]
fn missing_secure_messaging_and_truncation_close_the_session() {
    let plain = Command::new(0x80, 0xCA, 0x00, 0x66).with_le(256);
    let (mut host, mut card) = open_session(SecurityLevel::CMac, SMode::S8);
    let err = card.unwrap_command(&plain.to_bytes().unwrap()).unwrap_err();
    assert_eq!(err, Scp03Error::SecureMessagingMissing);
    assert_eq!(
        StatusWord::from(&err),
        StatusWord::SecurityStatusNotSatisfied
    );
    assert!(card.is_aborted());
    assert_eq!(
        card.unwrap_command(&wrap_bytes(&mut host, &plain))
            .unwrap_err(),
        Scp03Error::NoSession
    );

    let command = Command::new(0x80, 0xE2, 0x90, 0x00).with_data(vec![9; 40]);
    let full = {
        let (mut host, _) = open_session(SecurityLevel::Full, SMode::S8);
        wrap_bytes(&mut host, &command)
    };
    for cut in 1..full.len() {
        let (mut host, mut card) = open_session(SecurityLevel::Full, SMode::S8);
        let bytes = wrap_bytes(&mut host, &command);
        let err = card
            .unwrap_command(&bytes[..bytes.len() - cut])
            .unwrap_err();
        assert!(card.is_aborted(), "cut {cut}: {err:?}");
    }
    // Under C-DEC, a MAC-valid ciphertext that is not whole blocks cannot exist; a C-MAC-only
    // command with a cut data field fails its MAC.
    let (mut host, mut card) = open_session(SecurityLevel::CMac, SMode::S8);
    let mut bytes = wrap_bytes(&mut host, &command);
    bytes[4] -= 1;
    bytes.remove(5);
    assert_eq!(
        card.unwrap_command(&bytes).unwrap_err(),
        Scp03Error::CMacMismatch
    );
}

#[test]
fn no_session_and_plain_commands() {
    let mut card = CardSession::new();
    let plain = Command::new(0x00, 0xA4, 0x04, 0x00).with_data(AID.to_vec());
    // §5.6: no session, no checks: the application decides.
    assert_eq!(
        card.unwrap_command(&plain.to_bytes().unwrap()).unwrap(),
        plain
    );
    assert_eq!(card.security_level(), None);
    let sm = Command::new(0x84, 0xCA, 0x00, 0x66).with_data(vec![0; 8]);
    assert_eq!(
        card.unwrap_command(&sm.to_bytes().unwrap()).unwrap_err(),
        Scp03Error::NoSession
    );
    // EXTERNAL AUTHENTICATE without INITIALIZE UPDATE.
    let err = card
        .external_authenticate(&sm.to_bytes().unwrap())
        .unwrap_err();
    assert_eq!(StatusWord::from(&err), StatusWord::ConditionsNotSatisfied);
}

#[test]
fn initialize_update_errors() {
    let config = config(SMode::S8, ChallengeMode::PseudoRandom);
    let keys = keys(16, 4);
    let mut card = CardSession::new();
    let hc = Challenge::random(SMode::S8, &mut OsRng);
    let mut run = |command: Command, counter: SequenceCounter| {
        card.initialize_update(&config, &keys, counter, &mut OsRng, &command)
            .map(|a| a.response.sw)
            .map_err(|e| StatusWord::from(&e))
    };
    let ok = SequenceCounter::ZERO;
    assert_eq!(run(initialize_update(0x00, &hc), ok), Ok(StatusWord::Ok));
    assert_eq!(
        run(initialize_update(0x31, &hc), ok),
        Err(StatusWord::ReferencedDataNotFound)
    );
    let s16 = Challenge::random(SMode::S16, &mut OsRng);
    assert_eq!(
        run(initialize_update(0x30, &s16), ok),
        Err(StatusWord::WrongLength)
    );
    let mut p2 = initialize_update(0x30, &hc);
    p2.p2 = 1;
    assert_eq!(run(p2, ok), Err(StatusWord::IncorrectP1P2));
    assert_eq!(
        run(initialize_update(0x30, &hc), SequenceCounter::MAX),
        Err(StatusWord::ConditionsNotSatisfied)
    );
}

#[test]
fn level_refused_with_6a86() {
    let mut config = config(SMode::S8, ChallengeMode::Random);
    config.minimum_level = SecurityLevel::CMacCDec;
    let mut card = CardSession::new();
    let start = InitializeUpdateSent::new(0x30, Challenge::random(SMode::S8, &mut OsRng));
    let answer = card
        .initialize_update(
            &config,
            &keys(24, 5),
            SequenceCounter::ZERO,
            &mut OsRng,
            &start.command(),
        )
        .unwrap();
    assert_eq!(answer.new_counter, None);
    let (_, ea) = start
        .handle_response(&keys(24, 5), &answer.response)
        .unwrap()
        .external_authenticate(SecurityLevel::CMacRMac)
        .unwrap();
    let err = card
        .external_authenticate(&ea.to_bytes().unwrap())
        .unwrap_err();
    assert_eq!(err, Scp03Error::LevelNotSupported { level: 0x11 });
    assert_eq!(StatusWord::from(&err), StatusWord::IncorrectP1P2);
    assert!(card.is_aborted());

    // A card without R-MAC support: the host refuses to ask for it (§5.1).
    config.options.response = ResponseProtection::None;
    let start = InitializeUpdateSent::new(0x30, Challenge::random(SMode::S8, &mut OsRng));
    let answer = card
        .initialize_update(
            &config,
            &keys(24, 5),
            SequenceCounter::ZERO,
            &mut OsRng,
            &start.command(),
        )
        .unwrap();
    let authenticated = start
        .handle_response(&keys(24, 5), &answer.response)
        .unwrap();
    assert_eq!(
        authenticated
            .external_authenticate(SecurityLevel::Full)
            .unwrap_err(),
        Scp03Error::LevelNotSupported { level: 0x33 }
    );
}

#[test]
fn wrong_keys_fail_card_cryptogram() {
    let config = config(SMode::S16, ChallengeMode::PseudoRandom);
    let mut card = CardSession::new();
    let start = InitializeUpdateSent::new(0x30, Challenge::random(SMode::S16, &mut OsRng));
    let answer = card
        .initialize_update(
            &config,
            &keys(32, 6),
            SequenceCounter::ZERO,
            &mut OsRng,
            &start.command(),
        )
        .unwrap();
    assert_eq!(
        start
            .handle_response(&keys(32, 7), &answer.response)
            .unwrap_err(),
        Scp03Error::CardCryptogramMismatch
    );
}

/// Runs a script against a card, returning every response.
fn run_script(
    card: &mut CardSession,
    config: &CardConfig,
    stored: SequenceCounter,
    script: &Script,
) -> (Vec<Response>, SequenceCounter) {
    let keys = keys(16, 8);
    let mut out = Vec::new();
    let mut counter = stored;
    for (i, command) in script.commands().iter().enumerate() {
        let response = if i == 0 {
            let answer = card
                .initialize_update(config, &keys, stored, &mut OsRng, command)
                .unwrap();
            counter = answer.new_counter.unwrap();
            answer.response
        } else if i == 1 {
            card.external_authenticate(&command.to_bytes().unwrap())
                .unwrap_or_else(|e| Response::status((&e).into()))
        } else {
            match card.unwrap_command(&command.to_bytes().unwrap()) {
                Ok(plain) => card.wrap_response(Response::new(vec![plain.p1; 5], StatusWord::Ok)),
                Err(e) => Response::status((&e).into()),
            }
        };
        out.push(response);
    }
    (out, counter)
}

fn script_for(counter: SequenceCounter, level: SecurityLevel) -> Script {
    let config = config(SMode::S8, ChallengeMode::PseudoRandom);
    let commands: Vec<_> = (0..4u8)
        .map(|i| Command::new(0x80, 0xCA, i, 0x00).with_le(256))
        .collect();
    Script::predict(
        &keys(16, 8),
        &target(&config),
        counter,
        Challenge::random(SMode::S8, &mut OsRng),
        level,
        &commands,
    )
    .unwrap()
}

#[test]
fn counter_out_of_step_then_second_script() {
    let config = config(SMode::S8, ChallengeMode::PseudoRandom);
    let mut card = CardSession::new();
    // The server believes the card is at 3; it is at 5 (another host used it).
    let server_believes = SequenceCounter::new(3).unwrap();
    let card_stored = SequenceCounter::new(5).unwrap();
    let script = script_for(server_believes.next().unwrap(), SecurityLevel::Full);
    let (responses, card_now) = run_script(&mut card, &config, card_stored, &script);
    // The card refused EXTERNAL AUTHENTICATE (wrong challenge, so wrong host cryptogram) and
    // every command after it.
    assert_eq!(responses[1].sw, StatusWord::AuthenticationFailed);
    assert!(
        responses[2..]
            .iter()
            .all(|r| r.sw == StatusWord::SecurityStatusNotSatisfied)
    );
    let err = script
        .verifier()
        .verify(&keys(16, 8), &responses)
        .unwrap_err();
    let Scp03Error::CounterOutOfStep {
        expected,
        actual_counter,
    } = err
    else {
        panic!("{err:?}");
    };
    assert_eq!(expected.value(), 4);
    assert_eq!(actual_counter, card_now);
    assert_eq!(actual_counter.value(), 6);
    // Second round trip.
    let script = script_for(actual_counter.next().unwrap(), SecurityLevel::Full);
    let (responses, _) = run_script(&mut card, &config, card_now, &script);
    let outcome = script.verifier().verify(&keys(16, 8), &responses).unwrap();
    for (i, result) in outcome.results.iter().enumerate() {
        let result = result.as_ref().unwrap();
        assert!(result.is_authenticated());
        assert_eq!(result.response().data, vec![i as u8; 5]);
    }
}

#[test]
fn script_verifier_dropped_reordered_tampered() {
    let config = config(SMode::S8, ChallengeMode::PseudoRandom);
    let stored = SequenceCounter::new(20).unwrap();
    let script = script_for(stored.next().unwrap(), SecurityLevel::CMacRMac);
    let (responses, _) = run_script(&mut CardSession::new(), &config, stored, &script);
    let keys = keys(16, 8);
    assert!(
        script
            .verifier()
            .verify(&keys, &responses)
            .unwrap()
            .results
            .iter()
            .all(Result::is_ok)
    );

    // Dropped: the response to command 1 is missing; 2 and 3 slide into 1 and 2.
    let mut dropped = responses.clone();
    dropped.remove(3);
    let results = script.verifier().verify(&keys, &dropped).unwrap().results;
    assert!(results[0].is_ok());
    assert_eq!(
        results[1].as_ref().unwrap_err(),
        &Scp03Error::ResponseOutOfOrder { belongs_to: 2 }
    );
    assert_eq!(
        results[2].as_ref().unwrap_err(),
        &Scp03Error::ResponseOutOfOrder { belongs_to: 3 }
    );
    assert_eq!(
        results[3].as_ref().unwrap_err(),
        &Scp03Error::ResponseMissing
    );

    // Reordered: responses to commands 0 and 3 swapped.
    let mut swapped = responses.clone();
    swapped.swap(2, 5);
    let results = script.verifier().verify(&keys, &swapped).unwrap().results;
    assert_eq!(
        results[0].as_ref().unwrap_err(),
        &Scp03Error::ResponseOutOfOrder { belongs_to: 3 }
    );
    assert!(results[1].is_ok() && results[2].is_ok());
    assert_eq!(
        results[3].as_ref().unwrap_err(),
        &Scp03Error::ResponseOutOfOrder { belongs_to: 0 }
    );

    // Tampered data, and a forged error status word with data.
    let mut tampered = responses.clone();
    tampered[3].data[0] ^= 1;
    tampered[4] = Response::new(vec![1], StatusWord::FileNotFound);
    let results = script.verifier().verify(&keys, &tampered).unwrap().results;
    assert_eq!(results[1].as_ref().unwrap_err(), &Scp03Error::RMacMismatch);
    assert_eq!(
        results[2].as_ref().unwrap_err(),
        &Scp03Error::UnexpectedErrorData
    );
    // A bare error status word cannot be authenticated (§6.2.5): reported as such.
    tampered[4] = Response::status(StatusWord::FileNotFound);
    let results = script.verifier().verify(&keys, &tampered).unwrap().results;
    assert!(!results[2].as_ref().unwrap().is_authenticated());

    // Extra responses are counted; a missing handshake response fails the whole script.
    let mut extra = responses.clone();
    extra.push(Response::status(StatusWord::Ok));
    assert_eq!(
        script
            .verifier()
            .verify(&keys, &extra)
            .unwrap()
            .extra_responses,
        1
    );
    assert_eq!(
        script
            .verifier()
            .verify(&keys, &responses[..1])
            .unwrap_err(),
        Scp03Error::ResponseMissing
    );
    // Wrong keys on the server: the card cryptogram does not verify.
    assert_eq!(
        script
            .verifier()
            .verify(&keys_other(), &responses)
            .unwrap_err(),
        Scp03Error::CardChallengeMismatch
    );
}

fn keys_other() -> StaticKeys {
    keys(16, 9)
}
