//! The relay's logic against an in-process stand-in for the server's relay endpoint (built on
//! the same `kazashi_protocol::online::Transaction` the server uses) and a virtual chip:
//! exchanges counted, refusals and a vanishing chip handled.

use std::collections::VecDeque;

use kazashi_protocol::envelope::{Audience, CommandClaims, Op};
use kazashi_protocol::online::{
    self, ChipHello, ChipTarget, Launch, Progress, RelayAnswer, RelayReport, RelayScript,
    Transaction,
};
use kazashi_protocol::scp03::{Challenge, SMode, StaticKeys};
use kazashi_relay::{Http, Relay, RelayClientError, read_chip_identity};
use kazashi_se::{CardState, CardTransport, Profile, TransportError, VirtualCard};

/// The server side, in process: answers hellos and reports as docs/relay.md says.
struct FakeServer {
    keys: StaticKeys,
    chip: ChipTarget,
    chip_id: String,
    transaction: Transaction,
    outstanding: Option<RelayScript>,
    posts: usize,
    refuse: Option<(u16, &'static str)>,
}

impl FakeServer {
    fn new(card: &VirtualCard) -> Self {
        let (keys, chip) = card.state().profile.host_view().unwrap();
        let claims = CommandClaims {
            iss: "shop".into(),
            aud: Audience::from("s"),
            jti: "j".into(),
            iat: 1,
            exp: 2,
            nbf: None,
            sub: None,
            ops: vec![
                Op::Add {
                    counter: "points".into(),
                    amount: 7,
                },
                Op::Put {
                    record: "member".into(),
                    data: b"gold".to_vec(),
                },
            ],
        };
        let segments = online::plan(&claims, "shop").unwrap();
        Self {
            keys,
            chip,
            chip_id: card.state().profile.chip_id(),
            transaction: Transaction::new(segments, 2),
            outstanding: None,
            posts: 0,
            refuse: None,
        }
    }

    fn first_script(&mut self) -> RelayScript {
        let script = self
            .transaction
            .next_script(
                &self.keys,
                &self.chip,
                Challenge::random(SMode::S8, &mut rand_core::OsRng),
            )
            .unwrap()
            .unwrap();
        self.outstanding = Some(script.clone());
        script
    }

    fn answer(&mut self) -> RelayAnswer {
        match self.outstanding.clone() {
            Some(s) => RelayAnswer::Script(s),
            None => {
                let (status, results) = self.transaction.clone().finish();
                RelayAnswer::Result(format!("{status:?}:{}", results.len()))
            }
        }
    }
}

impl Http for FakeServer {
    fn post_json(&mut self, _url: &str, body: &str) -> Result<(u16, String), RelayClientError> {
        self.posts += 1;
        if let Some((status, code)) = self.refuse {
            return Ok((status, format!(r#"{{"error":"{code}","message":"no"}}"#)));
        }
        if let Ok(hello) = serde_json::from_str::<ChipHello>(body) {
            assert_eq!(
                hello.chip, self.chip_id,
                "the relay read the chip's identity"
            );
            self.first_script();
        } else {
            let report: RelayReport = serde_json::from_str(body).unwrap();
            assert_eq!(report.chip.as_deref(), Some(self.chip_id.as_str()));
            let script = self.outstanding.take().unwrap();
            match self
                .transaction
                .handle_report(&self.keys, &self.chip, &script, &report)
                .unwrap()
            {
                Progress::Continue { counter } => {
                    if let Some(c) = counter {
                        self.chip.counter = c;
                    }
                    if let Some(next) = self
                        .transaction
                        .next_script(
                            &self.keys,
                            &self.chip,
                            Challenge::random(SMode::S8, &mut rand_core::OsRng),
                        )
                        .unwrap()
                    {
                        self.outstanding = Some(next);
                    }
                }
                Progress::Script(next) => self.outstanding = Some(next),
                _ => {}
            }
        }
        Ok((200, serde_json::to_string(&self.answer()).unwrap()))
    }
}

fn card() -> VirtualCard {
    VirtualCard::in_memory(CardState::new(Profile::random(&mut rand_core::OsRng)))
}

#[test]
fn a_script_in_the_launch_url_takes_one_exchange() {
    let card = card();
    let mut server = FakeServer::new(&card);
    let launch = Launch {
        url: "https://s.test/launch/t".into(),
        script: Some(server.first_script()),
    };
    let mut relay = Relay::new(card, server);
    let mut steps = Vec::new();
    let token = relay
        .run_with_progress(&launch.to_url(), &mut |s: &str| steps.push(s.to_owned()))
        .unwrap();
    assert_eq!(token, "Ok:2");
    assert_eq!(relay.http().posts, 1);
    assert!(steps.iter().any(|s| s.contains("cannot read them")));
}

#[test]
fn without_a_script_the_relay_says_which_chip_first() {
    let card = card();
    let server = FakeServer::new(&card);
    let mut relay = Relay::new(card, server);
    assert_eq!(relay.run("https://s.test/launch/t").unwrap(), "Ok:2");
    assert_eq!(relay.http().posts, 2);
}

#[test]
fn refusals_carry_the_servers_code() {
    let card = card();
    let mut server = FakeServer::new(&card);
    server.refuse = Some((410, "launch_used"));
    let mut relay = Relay::new(card, server);
    match relay.run("https://s.test/launch/t") {
        Err(RelayClientError::Refused {
            status: 410, code, ..
        }) => assert_eq!(code, "launch_used"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Relay::new(self::card(), FakeServer::new(&self::card())).run("https://s/l#script=%%"),
        Err(RelayClientError::Malformed)
    ));
}

/// A chip that goes away after `left` APDUs.
struct Vanishing {
    card: VirtualCard,
    left: VecDeque<()>,
}

impl CardTransport for Vanishing {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.left.pop_front().ok_or(TransportError::NoCard)?;
        Ok(self.card.process(apdu))
    }
}

#[test]
fn a_chip_removed_mid_script_ends_with_a_failed_result_not_a_hang() {
    let card = card();
    let mut server = FakeServer::new(&card);
    let launch = Launch {
        url: "https://s.test/l".into(),
        script: Some(server.first_script()),
    };
    // Identity (2 APDUs), then SELECT, INITIALIZE UPDATE, EXTERNAL AUTHENTICATE, one command.
    let vanishing = Vanishing {
        card,
        left: std::iter::repeat_n((), 6).collect(),
    };
    let mut relay = Relay::new(vanishing, server);
    let token = relay.run(&launch.to_url()).unwrap();
    assert_eq!(token, "Failed:2", "the server reports what it could verify");
}

#[test]
fn identity_is_read_without_keys() {
    let mut card = card();
    let id = read_chip_identity(&mut card).unwrap();
    assert_eq!(id, card.state().profile.chip_id());
    assert_eq!(card.security_level(), None);
}
