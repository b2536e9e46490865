//! The virtual card driven in-process by the protocol crate's SCP03 host: every ID-store
//! instruction at every level, GlobalPlatform data, durability, and bad input.

#![allow(
    clippy::unwrap_used,
    clippy::type_complexity,
    reason = "test helpers: a failure should fail the test"
)]

mod common;

use common::*;
use kazashi_protocol::apdu::{Command, Response, StatusWord};
use kazashi_protocol::idstore::{self, Kind, Reply, Request};
use kazashi_protocol::scp03::{InitializeUpdateResponse, SMode, SecurityLevel, SequenceCounter};
use kazashi_protocol::tlv::{Tag, Tlv};
use kazashi_se::{ChallengeMode, Store, VirtualCard};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};

fn temp_state(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kazashi-se-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("chip.json")
}

type Check = fn(&Reply) -> bool;

fn every_request() -> Vec<(Request, Check)> {
    vec![
        (
            Request::PutRecord {
                slot: slot("resident-id"),
                value: "山田太郎".as_bytes().to_vec(),
            },
            |r| *r == Reply::Done,
        ),
        (
            Request::PutRecord {
                slot: slot("big"),
                value: vec![0x42; 4096],
            },
            |r| *r == Reply::Done,
        ),
        (Request::GetRecord(slot("resident-id")), |r| {
            *r == Reply::Value("山田太郎".as_bytes().to_vec())
        }),
        (Request::GetRecord(slot("big")), |r| {
            *r == Reply::Value(vec![0x42; 4096])
        }),
        (
            Request::Add {
                slot: slot("points"),
                amount: 100,
            },
            |r| *r == Reply::Counter(100),
        ),
        (
            Request::Sub {
                slot: slot("points"),
                amount: 30,
            },
            |r| *r == Reply::Counter(70),
        ),
        (
            Request::GenerateKey(slot("cert")),
            |r| matches!(r, Reply::PublicKey(k) if k[0] == 4),
        ),
        (
            Request::Sign {
                slot: slot("cert"),
                digest: [0xA5; 32],
            },
            |r| matches!(r, Reply::Signature(_)),
        ),
        (Request::GetPublicKey(slot("cert")), |r| {
            matches!(r, Reply::PublicKey(_))
        }),
        (Request::DeleteRecord(slot("big")), |r| *r == Reply::Done),
        (
            Request::List {
                namespace: b"city-hall".to_vec(),
            },
            |r| {
                *r == Reply::Names(vec![
                    (b"cert".to_vec(), Kind::Key),
                    (b"points".to_vec(), Kind::Counter),
                    (b"resident-id".to_vec(), Kind::Record),
                ])
            },
        ),
    ]
}

#[test]
fn every_instruction_at_every_level_mode_and_key_length() {
    for key_len in [16usize, 24, 32] {
        for s16 in [false, true] {
            for challenge in [ChallengeMode::PseudoRandom, ChallengeMode::Random] {
                for level in SecurityLevel::ALL {
                    let mut state = state();
                    let keys = [ENC, MAC, DEK].map(|k| {
                        let mut v = k.to_vec();
                        v.resize(key_len, 0x5A);
                        v
                    });
                    state.profile.keys = kazashi_se::KeySet {
                        enc: kazashi_se::state::Secret::new(keys[0].clone()),
                        mac: kazashi_se::state::Secret::new(keys[1].clone()),
                        dek: kazashi_se::state::Secret::new(keys[2].clone()),
                    };
                    state.profile.s16 = s16;
                    state.profile.challenge = challenge;
                    let mut card = VirtualCard::in_memory(state);
                    let mut channel = open_with_keys(&mut card, level, s16, &keys);
                    let mut public = None;
                    for (request, check) in every_request() {
                        let reply = run(&mut card, &mut channel, &request)
                            .unwrap_or_else(|sw| panic!("{request:?} at {level:?}: {sw}"));
                        assert!(
                            check(&reply),
                            "{request:?} at {level:?} s16={s16}: {reply:?}"
                        );
                        match (&request, reply) {
                            (Request::GenerateKey(_), Reply::PublicKey(k)) => public = Some(k),
                            (Request::Sign { digest, .. }, Reply::Signature(sig)) => {
                                let key = VerifyingKey::from_sec1_bytes(&public.unwrap()).unwrap();
                                key.verify_prehash(digest, &Signature::from_slice(&sig).unwrap())
                                    .unwrap();
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }
}

fn open_with_keys(
    card: &mut VirtualCard,
    level: SecurityLevel,
    s16: bool,
    keys: &[Vec<u8>; 3],
) -> kazashi_protocol::scp03::SecureChannel {
    use kazashi_protocol::scp03::{Challenge, InitializeUpdateSent, StaticKeys};
    assert_eq!(select(card, &idstore::AID).sw, StatusWord::Ok);
    let keys = StaticKeys::from_slices(&keys[0], &keys[1], &keys[2]).unwrap();
    let mode = if s16 { SMode::S16 } else { SMode::S8 };
    let host = InitializeUpdateSent::new(0, Challenge::random(mode, &mut rand_core::OsRng));
    let response = send(card, &host.command());
    let (sent, command) = host
        .handle_response(&keys, &response)
        .unwrap()
        .external_authenticate(level)
        .unwrap();
    sent.handle_response(&send(card, &command)).unwrap()
}

#[test]
fn pseudo_random_challenge_is_predictable_and_the_counter_durable() {
    let path = temp_state("counter");
    let store = Store::new(&path);
    store.create(&state()).unwrap();
    let mut card = VirtualCard::open(Store::new(&path)).unwrap();
    assert_eq!(select(&mut card, &idstore::AID).sw, StatusWord::Ok);
    for expected in 5..8u32 {
        let host = kazashi_protocol::scp03::InitializeUpdateSent::new(
            0,
            kazashi_protocol::scp03::Challenge::random(SMode::S8, &mut rand_core::OsRng),
        );
        let response = send(&mut card, &host.command());
        let info = InitializeUpdateResponse::from_response(&response).unwrap();
        assert_eq!(info.sequence_counter, SequenceCounter::new(expected));
        let aid = kazashi_protocol::scp03::Aid::new(&card.state().profile.isd_aid.0).unwrap();
        let predicted = keys()
            .pseudo_random_challenge(SMode::S8, SequenceCounter::new(expected).unwrap(), &aid)
            .unwrap();
        assert_eq!(predicted.as_bytes(), info.card_challenge.as_bytes());
        // On disk before the answer: a fresh load sees the next value.
        assert_eq!(
            Store::new(&path).load().unwrap().profile.sequence_counter,
            expected + 1
        );
    }
}

#[test]
fn writes_survive_a_reload() {
    let path = temp_state("reload");
    Store::new(&path).create(&state()).unwrap();
    {
        let mut card = VirtualCard::open(Store::new(&path)).unwrap();
        let mut channel = open(&mut card, SecurityLevel::Full, false);
        run(
            &mut card,
            &mut channel,
            &Request::PutRecord {
                slot: slot("a"),
                value: b"kept".to_vec(),
            },
        )
        .unwrap();
        run(
            &mut card,
            &mut channel,
            &Request::Add {
                slot: slot("p"),
                amount: 9,
            },
        )
        .unwrap();
    }
    let mut card = VirtualCard::open(Store::new(&path)).unwrap();
    let mut channel = open(&mut card, SecurityLevel::CMac, false);
    assert_eq!(
        run(&mut card, &mut channel, &Request::GetRecord(slot("a"))),
        Ok(Reply::Value(b"kept".to_vec()))
    );
    assert_eq!(
        run(
            &mut card,
            &mut channel,
            &Request::Add {
                slot: slot("p"),
                amount: 1
            }
        ),
        Ok(Reply::Counter(10))
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the state file holds keys: owner only");
    }
}

#[test]
fn global_platform_data() {
    let mut card = VirtualCard::in_memory(state());
    let isd = card.state().profile.isd_aid.0.clone();
    let fci = select(&mut card, &isd);
    assert_eq!(fci.sw, StatusWord::Ok);
    let fci = Tlv::parse(&fci.data).unwrap();
    assert_eq!(
        fci.find(Tag::from_u8(0x84))
            .unwrap()
            .primitive_value()
            .unwrap(),
        isd
    );
    // GET DATA outside a secure channel: public identification data.
    let get =
        |card: &mut VirtualCard, p1, p2| send(card, &Command::new(0x80, 0xCA, p1, p2).with_le(256));
    let crd = get(&mut card, 0x00, 0x66);
    assert_eq!(crd.sw, StatusWord::Ok);
    let crd = Tlv::parse(&crd.data).unwrap();
    let scp = crd
        .find_path(&[Tag::from_u8(0x73), Tag::from_u8(0x64), Tag::from_u8(0x06)])
        .unwrap();
    assert_eq!(
        &scp.primitive_value().unwrap()[6..8],
        &[0x04, 0x03],
        "SCP03"
    );
    let kit = Tlv::parse(&get(&mut card, 0x00, 0xE0).data).unwrap();
    assert_eq!(kit.children().unwrap().len(), 3);
    assert_eq!(
        kit.children().unwrap()[0].primitive_value().unwrap(),
        [0x01, 0x30, 0x88, 0x10]
    );
    let cplc = Tlv::parse(&get(&mut card, 0x9F, 0x7F).data).unwrap();
    assert_eq!(cplc.primitive_value().unwrap().len(), 42);
    let cin = Tlv::parse(&get(&mut card, 0x00, 0x45).data).unwrap();
    assert_eq!(cin.primitive_value().unwrap(), card.state().profile.cin.0);
    assert_eq!(
        get(&mut card, 0x01, 0x02).sw,
        StatusWord::ReferencedDataNotFound
    );
    // GET STATUS needs the secure channel.
    let status = Command::new(0x80, 0xF2, 0x40, 0x02)
        .with_data(vec![0x4F, 0x00])
        .with_le(256);
    assert_eq!(
        send(&mut card, &status).sw,
        StatusWord::SecurityStatusNotSatisfied
    );
    let mut channel = common::open_selected(&mut card, SecurityLevel::CMac, false);
    let (wrapped, pending) = channel.wrap(&status).unwrap();
    let response = channel
        .unwrap(pending, &send(&mut card, &wrapped))
        .unwrap()
        .into_response();
    assert_eq!(response.sw, StatusWord::Ok);
    let entry = Tlv::parse(&response.data).unwrap();
    assert_eq!(
        entry
            .find(Tag::from_u8(0x4F))
            .unwrap()
            .primitive_value()
            .unwrap(),
        idstore::AID
    );
}

/// GET DATA in the interindustry class under SCP03 (CLA `04`, GP §11.3.1), as yubikit's
/// `SecurityDomainSession.get_data` sends it; in plain, CLA `04` has no session to check it.
#[test]
fn interindustry_get_data_under_secure_messaging() {
    let mut card = VirtualCard::in_memory(state());
    let isd = card.state().profile.isd_aid.0.clone();
    assert_eq!(select(&mut card, &isd).sw, StatusWord::Ok);
    let plain_e0 = send(
        &mut card,
        &Command::new(0x00, 0xCA, 0x00, 0xE0).with_le(256),
    );
    assert_eq!(plain_e0.sw, StatusWord::Ok);
    for level in SecurityLevel::ALL {
        let mut channel = common::open_selected(&mut card, level, false);
        let (wrapped, pending) = channel
            .wrap(&Command::new(0x00, 0xCA, 0x00, 0xE0).with_le(256))
            .unwrap();
        assert_eq!(wrapped.cla, 0x04);
        let response = channel
            .unwrap(pending, &send(&mut card, &wrapped))
            .unwrap()
            .into_response();
        assert_eq!(response, plain_e0, "{level:?}");
    }
    assert_eq!(select(&mut card, &isd).sw, StatusWord::Ok);
    let bare = Command::new(0x04, 0xCA, 0x00, 0xE0).with_data(vec![0; 8]);
    assert_ne!(send(&mut card, &bare).sw, StatusWord::Ok);
}

/// Runs `f` on a persisted card and asserts the state file's bytes are unchanged by it.
fn file_untouched(path: &std::path::Path, f: impl FnOnce()) {
    let before = std::fs::read(path).unwrap();
    f();
    assert_eq!(
        std::fs::read(path).unwrap(),
        before,
        "the state file changed"
    );
}

#[test]
fn bad_input_gets_the_right_status_word_and_changes_nothing() {
    let path = temp_state("bad");
    Store::new(&path).create(&state()).unwrap();
    let mut card = VirtualCard::open(Store::new(&path)).unwrap();
    let raw = |card: &mut VirtualCard, hex: &str| {
        Response::parse(&card.process(&::hex::decode(hex.replace(' ', "")).unwrap()))
            .unwrap()
            .sw
    };
    let mut channel = open(&mut card, SecurityLevel::Full, false);
    run(
        &mut card,
        &mut channel,
        &Request::Add {
            slot: slot("points"),
            amount: 5,
        },
    )
    .unwrap();

    file_untouched(&path, || {
        // Malformed and truncated APDUs.
        assert_eq!(raw(&mut card, "80"), StatusWord::WrongLength);
        assert_eq!(raw(&mut card, "84D00000 10 0102"), StatusWord::WrongLength);
        assert_eq!(
            raw(&mut card, "84D00000 000002 01"),
            StatusWord::WrongLength
        );
        // Unknown class, logical channels.
        assert_eq!(raw(&mut card, "A0D0000000"), StatusWord::ClaNotSupported);
        assert_eq!(
            raw(&mut card, "01A4040000"),
            StatusWord::LogicalChannelNotSupported
        );
    });
    // The malformed commands above did not carry a valid MAC; the session must be closed now.
    let refused = run(&mut card, &mut channel, &Request::GetRecord(slot("points")));
    assert!(refused.is_err());

    // A fresh session: unknown INS and wrong P1/P2 inside the channel.
    let mut channel = open(&mut card, SecurityLevel::Full, false);
    file_untouched(&path, || {
        let (wrapped, _) = channel.wrap(&Command::new(0x80, 0x01, 0, 0)).unwrap();
        assert_eq!(send(&mut card, &wrapped).sw, StatusWord::InsNotSupported);
    });
    let mut channel = open(&mut card, SecurityLevel::Full, false);
    file_untouched(&path, || {
        let mut bad = Request::GetRecord(slot("x")).to_command();
        bad.p1 = 7;
        let (wrapped, _) = channel.wrap(&bad).unwrap();
        assert_eq!(send(&mut card, &wrapped).sw, StatusWord::IncorrectP1P2);
    });

    // Counter underflow: 6985, and the counter keeps its value.
    let mut channel = open(&mut card, SecurityLevel::Full, false);
    file_untouched(&path, || {
        assert_eq!(
            run(
                &mut card,
                &mut channel,
                &Request::Sub {
                    slot: slot("points"),
                    amount: 6
                }
            ),
            Err(StatusWord::ConditionsNotSatisfied)
        );
    });

    // Outside the secure channel: 6982 (but public keys may be read).
    assert_eq!(select(&mut card, &idstore::AID).sw, StatusWord::Ok);
    file_untouched(&path, || {
        let put = Request::PutRecord {
            slot: slot("x"),
            value: vec![1],
        };
        assert_eq!(
            send(&mut card, &put.to_command()).sw,
            StatusWord::SecurityStatusNotSatisfied
        );
        let get = Request::GetRecord(slot("points"));
        assert_eq!(
            send(&mut card, &get.to_command()).sw,
            StatusWord::SecurityStatusNotSatisfied
        );
        let public = Request::GetPublicKey(slot("nothing"));
        assert_eq!(
            send(&mut card, &public.to_command()).sw,
            StatusWord::ReferencedDataNotFound
        );
    });
}

#[test]
fn a_wrong_mac_closes_the_session_and_changes_nothing() {
    let path = temp_state("mac");
    Store::new(&path).create(&state()).unwrap();
    let mut card = VirtualCard::open(Store::new(&path)).unwrap();
    let mut channel = open(&mut card, SecurityLevel::CMacCDecRMac, false);
    let put = Request::PutRecord {
        slot: slot("a"),
        value: b"v".to_vec(),
    }
    .to_command();
    let (wrapped, _) = channel.wrap(&put).unwrap();
    let mut bytes = wrapped.to_bytes().unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    file_untouched(&path, || {
        let sw = Response::parse(&card.process(&bytes)).unwrap().sw;
        assert_eq!(sw, StatusWord::SecurityStatusNotSatisfied);
        // The session is closed: the next correctly wrapped command is refused too.
        let (next, _) = channel.wrap(&put).unwrap();
        assert!(!send(&mut card, &next).sw.is_success());
    });
}

#[test]
fn replayed_and_reordered_commands_are_refused() {
    let mut card = VirtualCard::in_memory(state());
    let mut channel = open(&mut card, SecurityLevel::CMac, false);
    let add = Request::Add {
        slot: slot("p"),
        amount: 1,
    };
    let (first, pending) = channel.wrap(&add.to_command()).unwrap();
    let response = send(&mut card, &first);
    channel.unwrap(pending, &response).unwrap();
    // Replay of the same wrapped command.
    assert_eq!(
        send(&mut card, &first).sw,
        StatusWord::SecurityStatusNotSatisfied
    );
    assert_eq!(card.state().objects.values().next().unwrap().len(), 1);

    let mut channel = open(&mut card, SecurityLevel::CMac, false);
    let (a, _) = channel.wrap(&add.to_command()).unwrap();
    let (b, _) = channel.wrap(&add.to_command()).unwrap();
    // b before a: its MAC chains from a's.
    assert_eq!(
        send(&mut card, &b).sw,
        StatusWord::SecurityStatusNotSatisfied
    );
    assert!(
        !send(&mut card, &a).sw.is_success(),
        "the session is closed"
    );
    let value = card
        .state()
        .objects
        .values()
        .next()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(value, kazashi_se::state::Object::Counter { value: 1 });
}

#[test]
fn selecting_unknown_applications_and_wrong_select_parameters() {
    let mut card = VirtualCard::in_memory(state());
    assert_eq!(
        select(&mut card, &[0xA0, 0, 0, 0, 0x99]).sw,
        StatusWord::FileNotFound
    );
    let bad = Command::new(0x00, 0xA4, 0x00, 0x00).with_data(idstore::AID.to_vec());
    assert_eq!(send(&mut card, &bad).sw, StatusWord::IncorrectP1P2);
    // Selection ends a session.
    let mut channel = open(&mut card, SecurityLevel::CMac, false);
    assert_eq!(select(&mut card, &idstore::AID).sw, StatusWord::Ok);
    let (wrapped, _) = channel
        .wrap(&Request::GetRecord(slot("a")).to_command())
        .unwrap();
    assert!(!send(&mut card, &wrapped).sw.is_success());
}
