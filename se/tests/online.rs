//! The online flow's protocol logic end to end, in one process: a provider's sealed command,
//! the server's checks and plan, one relay script built from the predicted card challenge, a
//! relay running it against the virtual chip, and the signed result the provider verifies.
//! Relay exchanges are counted; a relay that tampers, drops or reorders gets a failed result.

mod common;

use kazashi_protocol::envelope::{
    self, Audience, CommandClaims, CommandPolicy, Op, OpStatus, ProviderKey, ResultClaims,
    ResultPolicy, Status,
};
use kazashi_protocol::jose::{JwkSet, PrivateKey};
use kazashi_protocol::online::{self, ChipTarget, Progress, RelayReport, RelayScript, Transaction};
use kazashi_protocol::scp03::{Challenge, SMode, SequenceCounter, StaticKeys};
use kazashi_se::{ChallengeMode, VirtualCard};

const SERVER: &str = "https://server.test";
const PROVIDER: &str = "city-hall";
const NOW: u64 = 1_800_000_000;

fn claims() -> CommandClaims {
    CommandClaims {
        iss: PROVIDER.into(),
        aud: Audience::from(SERVER),
        jti: "cmd-1".into(),
        iat: NOW,
        exp: NOW + 120,
        nbf: None,
        sub: None,
        ops: vec![
            Op::Put {
                record: "resident-id".into(),
                data: "山田太郎".as_bytes().to_vec(),
            },
            Op::Get {
                record: "resident-id".into(),
            },
            Op::Add {
                counter: "points".into(),
                amount: 100,
            },
            Op::Sub {
                counter: "points".into(),
                amount: 250,
            },
            Op::Keygen { key: "cert".into() },
            Op::Delete {
                record: "resident-id".into(),
            },
        ],
    }
}

/// What the server knows of the chip; `counter_offset` puts its record of the counter out of
/// step.
fn chip_target(card: &VirtualCard, counter_offset: i64) -> (StaticKeys, ChipTarget) {
    let (keys, mut chip) = card.state().profile.host_view().unwrap();
    let last = (i64::from(chip.counter.value()) + counter_offset) as u32;
    chip.counter = SequenceCounter::new(last).unwrap();
    (keys, chip)
}

/// A relay: runs the script against the card; `meddle` may change the report.
fn relay(
    card: &mut VirtualCard,
    script: &RelayScript,
    meddle: &dyn Fn(&mut RelayReport),
) -> RelayReport {
    let mut run = script.start().unwrap();
    while let Some(apdu) = run.next_apdu() {
        let response = card.process(apdu);
        run.handle_response(&response);
    }
    let mut report = run.finish();
    meddle(&mut report);
    report
}

struct Outcome {
    result: ResultClaims,
    exchanges: u32,
}

fn transact(
    card: &mut VirtualCard,
    counter_offset: i64,
    meddle: &dyn Fn(&mut RelayReport),
) -> Outcome {
    let mut rng = rand_core::OsRng;
    let provider = PrivateKey::generate(&mut rng);
    let server_sig = PrivateKey::generate(&mut rng);
    let server_enc = PrivateKey::generate(&mut rng);
    let sealed =
        envelope::seal_command(&claims(), &provider, &server_enc.public_key(), &mut rng).unwrap();

    // Server: open, check, plan.
    let command = envelope::open_command(
        &sealed,
        |_| Some(&server_enc),
        |_| {
            Some(ProviderKey {
                provider: PROVIDER.into(),
                key: provider.public_key(),
            })
        },
        &CommandPolicy::new(SERVER, NOW),
    )
    .unwrap();
    let segments = online::plan(&command.claims, &command.claims.iss).unwrap();
    let mut transaction = Transaction::new(segments, command.claims.ops.len());
    let (keys, mut chip) = chip_target(card, counter_offset);

    let mut script = transaction
        .next_script(&keys, &chip, Challenge::random(SMode::S8, &mut rng))
        .unwrap();
    while let Some(current) = script {
        // Between exchanges the server keeps only JSON in its database: another instance
        // plans the claims again and resumes from the stored state.
        let stored = serde_json::to_string(transaction.state()).unwrap();
        let replanned = online::plan(&command.claims, &command.claims.iss).unwrap();
        transaction = Transaction::resume(replanned, serde_json::from_str(&stored).unwrap());
        let report = relay(card, &current, meddle);
        script = match transaction
            .handle_report(&keys, &chip, &current, &report)
            .unwrap()
        {
            Progress::Continue { counter } => {
                if let Some(counter) = counter {
                    chip.counter = counter;
                }
                transaction
                    .next_script(&keys, &chip, Challenge::random(SMode::S8, &mut rng))
                    .unwrap()
            }
            Progress::Script(next) => Some(next),
            _ => None,
        };
    }
    let exchanges = transaction.exchanges();
    let (status, results) = transaction.finish();
    let result = ResultClaims {
        iss: SERVER.into(),
        aud: Audience::from(PROVIDER),
        jti: "txn-1".into(),
        cmd: command.claims.jti.clone(),
        iat: NOW,
        chip: card.state().profile.chip_id(),
        status,
        reason: None,
        results,
    };
    // Provider: verify the signed result.
    let token = envelope::sign_result(&result, &server_sig).unwrap();
    let jwks = JwkSet {
        keys: vec![server_sig.public_key().to_jwk()],
    };
    let policy = ResultPolicy {
        server_keys: &jwks,
        issuer: SERVER,
        audience: PROVIDER,
        command: Some("cmd-1"),
        provider_key: None,
        now: NOW,
        leeway: 60,
        max_age: None,
    };
    let verified = envelope::verify_result(&token, &policy).unwrap();
    Outcome {
        result: verified.claims,
        exchanges,
    }
}

fn assert_expected_results(result: &ResultClaims) {
    let r = &result.results;
    assert_eq!(r.len(), 6);
    assert_eq!(r[0].status, OpStatus::Ok);
    assert_eq!(r[1].data.as_deref(), Some("山田太郎".as_bytes()));
    assert_eq!(r[2].value, Some(100));
    // The floor: 100 - 250 is refused by the chip.
    assert_eq!(r[3].status, OpStatus::Failed);
    assert_eq!(r[3].sw.as_deref(), Some("6985"));
    assert_eq!(r[4].jwk.as_ref().map(|j| j.kty.as_str()), Some("EC"));
    assert_eq!(r[5].status, OpStatus::Ok);
    assert_eq!(result.status, Status::Failed, "one operation failed");
}

#[test]
fn one_exchange_when_the_counter_is_in_step() {
    let mut card = VirtualCard::in_memory(common::state());
    let outcome = transact(&mut card, 0, &|_| {});
    assert_expected_results(&outcome.result);
    assert_eq!(outcome.exchanges, 1);
}

#[test]
fn two_exchanges_when_the_counter_is_out_of_step() {
    // The server's record is behind (another host used the chip) or ahead: either way the
    // card refuses EXTERNAL AUTHENTICATE and its genuine answer resynchronises the server.
    for offset in [-3, 2] {
        let mut card = VirtualCard::in_memory(common::state());
        let outcome = transact(&mut card, offset, &|_| {});
        assert_expected_results(&outcome.result);
        assert_eq!(outcome.exchanges, 2, "offset {offset}");
    }
}

#[test]
fn two_exchanges_for_a_random_challenge_chip() {
    let mut state = common::state();
    state.profile.challenge = ChallengeMode::Random;
    let mut card = VirtualCard::in_memory(state);
    let outcome = transact(&mut card, 0, &|_| {});
    assert_expected_results(&outcome.result);
    assert_eq!(outcome.exchanges, 2);
}

#[test]
fn a_relay_that_tampers_drops_or_reorders_gets_a_failed_result_without_data() {
    let tamper_get: &dyn Fn(&mut RelayReport) = &|report| {
        // SELECT, INITIALIZE UPDATE, EXTERNAL AUTHENTICATE, PUT, GET: flip a byte of GET's answer.
        report.rapdus[4][0] ^= 0x01;
    };
    let drop_last: &dyn Fn(&mut RelayReport) = &|report| {
        report.rapdus.pop();
    };
    let reorder: &dyn Fn(&mut RelayReport) = &|report| report.rapdus.swap(3, 4);
    for (name, meddle) in [
        ("tamper", tamper_get),
        ("drop", drop_last),
        ("reorder", reorder),
    ] {
        let mut card = VirtualCard::in_memory(common::state());
        let outcome = transact(&mut card, 0, meddle);
        let r = &outcome.result.results;
        assert_eq!(outcome.result.status, Status::Failed, "{name}");
        match name {
            "tamper" => {
                assert_eq!(r[1].status, OpStatus::Failed);
                assert_eq!(r[1].data, None, "no unauthenticated data is reported");
                assert_eq!(
                    r[1].error.as_deref(),
                    Some(online::outcome::codes::NOT_AUTHENTICATED)
                );
                assert_eq!(r[2].value, Some(100), "the other answers still verify");
            }
            "drop" => {
                assert_eq!(r[5].status, OpStatus::Failed);
                assert_eq!(r[0].status, OpStatus::Ok);
            }
            _ => {
                assert_eq!(r[0].status, OpStatus::Failed);
                assert_eq!(r[1].status, OpStatus::Failed);
                assert_eq!(r[1].data, None);
            }
        }
    }
}

#[test]
fn a_chip_without_the_applet_ends_the_transaction() {
    let mut card = VirtualCard::in_memory(common::state());
    let outcome = transact(&mut card, 0, &|report| {
        // The relay says SELECT failed (or the applet is absent).
        report.rapdus.truncate(1);
        report.rapdus[0] = vec![0x6A, 0x82];
    });
    assert_eq!(outcome.result.status, Status::Failed);
    assert!(
        outcome
            .result
            .results
            .iter()
            .all(|r| r.status == OpStatus::Skipped)
    );
}
