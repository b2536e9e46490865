//! The online flow end to end over real HTTP: a provider registers a sealed command, the
//! `kazashi-relay` library runs the launch URL against a virtual chip personalized with the
//! server's diversified keys, and the provider verifies the signed result. On SQLite and on
//! PostgreSQL (two instances sharing it, the relay alternating between them).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use kazashi_protocol::envelope::{
    self, Audience, CommandClaims, Op, OpStatus, ResultClaims, ResultPolicy, Status,
};
use kazashi_protocol::jose::{JwkSet, PrivateKey};
use kazashi_protocol::scp03::{KeyLength, diversify_static_keys};
use kazashi_relay::{Http, HttpClient, Relay, RelayClientError};
use kazashi_se::state::{HexBytes, Secret};
use kazashi_se::{CardState, KeySet, Profile, VirtualCard};
use kazashi_server::db::Db;
use kazashi_server::keys::KeyRing;
use kazashi_server::registry::{self, Chip, ChipStatus};
use kazashi_server::{AppState, Config, build_router};

const ISSUER: &str = "https://kazashi.test";
const PROVIDER: &str = "city-hall";

/// One running instance on a real socket.
struct Instance {
    addr: SocketAddr,
    state: AppState,
}

struct World {
    _dir: tempfile::TempDir,
    instances: Vec<Instance>,
    provider: PrivateKey,
    runtime: Arc<tokio::runtime::Runtime>,
}

fn runtime() -> Arc<tokio::runtime::Runtime> {
    Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    )
}

impl World {
    /// `instances` servers on one database (SQLite when `postgres` is false).
    fn new(postgres: bool, instances: usize) -> Self {
        let runtime = runtime();
        let dir = tempfile::tempdir().unwrap();
        let url = if postgres {
            runtime.block_on(common::fresh_database())
        } else {
            kazashi_server::config::sqlite_url(dir.path())
        };
        let provider = PrivateKey::generate(&mut rand_core::OsRng);
        let started: Vec<Instance> = (0..instances)
            .map(|_| {
                runtime.block_on(async {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let addr = listener.local_addr().unwrap();
                    let mut config = Config::new(dir.path(), addr);
                    config.database_url = url.clone();
                    config.id = ISSUER.into();
                    config.public_url = format!("http://{addr}");
                    let db = Db::connect(&url).await.unwrap();
                    let keys = KeyRing::load_or_create(dir.path()).unwrap();
                    let state = AppState::new(config, db, keys);
                    let router = build_router(state.clone());
                    tokio::spawn(async move { axum::serve(listener, router).await });
                    Instance { addr, state }
                })
            })
            .collect();
        let jwks = JwkSet {
            keys: vec![provider.public_key().to_jwk()],
        };
        runtime
            .block_on(registry::add_provider(
                &started[0].state.db,
                PROVIDER,
                jwks.to_json().as_bytes(),
                &[],
                kazashi_server::now(),
            ))
            .unwrap();
        Self {
            _dir: dir,
            instances: started,
            provider,
            runtime,
        }
    }

    /// A chip registered with the server and its virtual card, keys diversified from the
    /// server's master key.
    fn chip(&self, cin: &str, random_challenge: bool) -> VirtualCard {
        let state = &self.instances[0].state;
        let kdd: [u8; 10] = rand_bytes();
        let keys = diversify_static_keys(
            state.keys().chip_master().expose_secret(),
            &kdd,
            KeyLength::Aes128,
        );
        let chip = Chip {
            id: cin.into(),
            kdd,
            kvn: 0x30,
            isd_aid: kazashi_se::state::DEFAULT_ISD_AID.to_vec(),
            key_length: 16,
            s16: false,
            random_challenge,
            sequence_counter: 1,
            status: ChipStatus::Active,
        };
        self.runtime
            .block_on(registry::add_chip(&state.db, &chip, kazashi_server::now()))
            .unwrap();
        let mut profile = Profile::random(&mut rand_core::OsRng);
        profile.kvn = 0x30;
        profile.kdd = HexBytes(kdd.to_vec());
        profile.cin = HexBytes(hex::decode(cin).unwrap());
        profile.keys = KeySet {
            enc: Secret::new(keys.enc().expose_secret().to_vec()),
            mac: Secret::new(keys.mac().expose_secret().to_vec()),
            dek: Secret::new(keys.dek().expose_secret().to_vec()),
        };
        profile.sequence_counter = 1;
        if random_challenge {
            profile.challenge = kazashi_se::ChallengeMode::Random;
        }
        VirtualCard::in_memory(CardState::new(profile))
    }

    fn register(&self, jti: &str, sub: Option<&str>) -> (String, String) {
        let state = &self.instances[0].state;
        let now = kazashi_server::now();
        let claims = CommandClaims {
            iss: PROVIDER.into(),
            aud: Audience::from(ISSUER),
            jti: jti.into(),
            iat: now,
            exp: now + 120,
            nbf: None,
            sub: sub.map(Into::into),
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
                    amount: 30,
                },
                Op::Keygen {
                    key: format!("cert-{jti}"),
                },
            ],
        };
        let sealed = envelope::seal_command(
            &claims,
            &self.provider,
            &state.keys().encryption_public(),
            &mut rand_core::OsRng,
        )
        .unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent
            .post(&format!(
                "http://{}/v1/transactions",
                self.instances[0].addr
            ))
            .header("content-type", "application/jose")
            .send(sealed.as_str())
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let body: serde_json::Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        (
            body["launch_url"].as_str().unwrap().to_owned(),
            body["id"].as_str().unwrap().to_owned(),
        )
    }

    fn verify(&self, token: &str, jti: &str) -> ResultClaims {
        let jwks = self.instances[0].state.keys().jwks();
        let policy = ResultPolicy {
            server_keys: &jwks,
            issuer: ISSUER,
            audience: PROVIDER,
            command: Some(jti),
            provider_key: None,
            now: kazashi_server::now(),
            leeway: 60,
            max_age: Some(300),
        };
        envelope::verify_result(token, &policy).unwrap().claims
    }
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    use rand_core::RngCore;
    let mut b = [0; N];
    rand_core::OsRng.fill_bytes(&mut b);
    b
}

fn assert_results(result: &ResultClaims) {
    let r = &result.results;
    assert_eq!(r[0].status, OpStatus::Ok);
    assert_eq!(r[1].data.as_deref(), Some("山田太郎".as_bytes()));
    assert_eq!(r[2].value, Some(100));
    assert_eq!(r[3].value, Some(70));
    assert_eq!(r[4].jwk.as_ref().map(|j| j.kty.as_str()), Some("EC"));
    assert_eq!(result.status, Status::Ok);
}

/// Alternates POSTs between two instances' base URLs (same paths).
struct Alternating {
    inner: HttpClient,
    from: String,
    to: Vec<String>,
    n: usize,
}

impl Http for Alternating {
    fn post_json(&mut self, url: &str, body: &str) -> Result<(u16, String), RelayClientError> {
        let base = &self.to[self.n % self.to.len()];
        self.n += 1;
        self.inner
            .post_json(&url.replacen(&self.from, base, 1), body)
    }
}

fn scenarios(postgres: bool) {
    if postgres && common::skip_postgres() {
        eprintln!("PostgreSQL tests skipped (KAZASHI_SKIP_POSTGRES=1)");
        return;
    }
    let world = World::new(postgres, 1);

    // In step, chip named: one exchange, the script came in the launch URL.
    let mut card = world.chip("0A0B0C0D01020304", false);
    let (url, id) = world.register("cmd-1", Some("0A0B0C0D01020304"));
    assert!(url.contains("#script="), "{url}");
    let mut relay = Relay::new(&mut card, HttpClient::new());
    let token = relay.run(&url).unwrap();
    assert_eq!(relay.http().exchanges(), 1);
    let result = world.verify(&token, "cmd-1");
    assert_results(&result);
    assert_eq!(result.jti, id);
    // The launch URL is spent.
    match Relay::new(&mut card, HttpClient::new()).run(&url) {
        Err(RelayClientError::Refused {
            status: 410, code, ..
        }) => assert_eq!(code, "launch_used"),
        other => panic!("{other:?}"),
    }

    // Counter out of step (the chip was used elsewhere): two exchanges.
    for _ in 0..3 {
        card.process(&hex::decode("00A4040000").unwrap());
        card.process(&hex::decode("8050000008000102030405060700").unwrap());
    }
    let (url, _) = world.register("cmd-2", Some("0A0B0C0D01020304"));
    let mut relay = Relay::new(&mut card, HttpClient::new());
    let token = relay.run(&url).unwrap();
    assert_eq!(relay.http().exchanges(), 2);
    let result = world.verify(&token, "cmd-2");
    assert_eq!(result.results[3].value, Some(140));
    assert_eq!(result.status, Status::Ok);

    // No chip named: the relay says which chip first.
    let (url, _) = world.register("cmd-3", None);
    assert!(!url.contains('#'));
    let mut relay = Relay::new(&mut card, HttpClient::new());
    let token = relay.run(&url).unwrap();
    assert_eq!(relay.http().exchanges(), 2);
    assert_eq!(world.verify(&token, "cmd-3").status, Status::Ok);

    // A random-challenge chip: INITIALIZE UPDATE first, two exchanges.
    let mut random = world.chip("0A0B0C0D05060708", true);
    let (url, _) = world.register("cmd-4", Some("0A0B0C0D05060708"));
    let mut relay = Relay::new(&mut random, HttpClient::new());
    let token = relay.run(&url).unwrap();
    assert_eq!(relay.http().exchanges(), 2);
    assert_results(&world.verify(&token, "cmd-4"));

    // The wrong chip for a command that names another.
    let (url, _) = world.register("cmd-5", None);
    let mut relay = Relay::new(&mut random, HttpClient::new());
    assert_eq!(
        world.verify(&relay.run(&url).unwrap(), "cmd-5").chip,
        "0A0B0C0D05060708"
    );
    let (url, _) = world.register("cmd-6", Some("0A0B0C0D01020304"));
    let launch = kazashi_protocol::online::Launch::parse(&url).unwrap();
    match Relay::new(&mut random, HttpClient::new()).run(&launch.url) {
        Err(RelayClientError::Refused {
            status: 403, code, ..
        }) => assert_eq!(code, "wrong_chip"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn end_to_end_on_sqlite() {
    scenarios(false);
}

#[test]
fn end_to_end_on_postgres() {
    scenarios(true);
}

#[test]
fn two_instances_on_postgres_with_the_relay_alternating() {
    if common::skip_postgres() {
        return;
    }
    let world = World::new(true, 2);
    let mut card = world.chip("0B0B0C0D01020304", true);
    let (url, _) = world.register("alt-1", Some("0B0B0C0D01020304"));
    let from = format!("http://{}", world.instances[0].addr);
    let http = Alternating {
        inner: HttpClient::new(),
        from: from.clone(),
        to: world
            .instances
            .iter()
            .map(|i| format!("http://{}", i.addr))
            .collect(),
        n: 1,
    };
    let mut relay = Relay::new(&mut card, http);
    let token = relay.run(&url).unwrap();
    // The INITIALIZE UPDATE report to one instance, the final report to the other.
    assert_eq!(relay.http().n, 3);
    assert_results(&world.verify(&token, "alt-1"));

    // Each instance counted the report it took, in memory; the database totals add up once
    // both have added their counts (`serve` does it every second; `/metrics` adds the
    // instance's own first).
    let metrics = |i: usize| {
        ureq::get(format!("http://{}/metrics", world.instances[i].addr))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    };
    let reports = |n: u32| format!("kazashi_relay_exchanges_total{{kind=\"report\"}} {n}\n");
    assert!(metrics(0).contains(&reports(1)));
    let other = &world.instances[1].state;
    world
        .runtime
        .block_on(other.counters.flush(&other.db))
        .unwrap();
    assert!(metrics(0).contains(&reports(2)));
    assert!(metrics(1).contains(&reports(2)));
}

#[test]
fn a_tampering_relay_gets_a_failed_result_without_data() {
    let world = World::new(false, 1);
    let card = world.chip("0C0B0C0D01020304", false);
    /// A card whose answer to the fifth APDU of a script (GET RECORD) is altered.
    struct Tamper(VirtualCard, usize);
    impl kazashi_se::CardTransport for Tamper {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, kazashi_se::TransportError> {
            self.1 += 1;
            let mut r = self.0.process(apdu);
            // Identity (2 APDUs), SELECT, IU, EA, PUT, GET: the 7th answer.
            if self.1 == 7 {
                r[0] ^= 1;
            }
            Ok(r)
        }
    }
    let (url, _) = world.register("tamper-1", Some("0C0B0C0D01020304"));
    let token = Relay::new(Tamper(card, 0), HttpClient::new())
        .run(&url)
        .unwrap();
    let result = world.verify(&token, "tamper-1");
    assert_eq!(result.status, Status::Failed);
    assert_eq!(result.results[1].status, OpStatus::Failed);
    assert_eq!(result.results[1].data, None);
    assert_eq!(result.results[0].status, OpStatus::Ok);
}

/// A card shared by several relays, one APDU at a time.
struct Shared(Arc<std::sync::Mutex<VirtualCard>>);

impl kazashi_se::CardTransport for Shared {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, kazashi_se::TransportError> {
        Ok(self.0.lock().unwrap().process(apdu))
    }
}

#[test]
fn two_transactions_for_one_chip_are_serialized_and_many_chips_run_in_parallel() {
    let world = Arc::new(World::new(false, 1));
    let card = Arc::new(std::sync::Mutex::new(world.chip("0D0B0C0D01020304", false)));
    let (first, _) = world.register("same-1", Some("0D0B0C0D01020304"));
    let (second, _) = world.register("same-2", Some("0D0B0C0D01020304"));
    assert!(first.contains("#script="));
    assert!(
        !second.contains('#'),
        "a second transaction for a busy chip gets no script in advance"
    );
    let runs: Vec<_> = [(second, "same-2"), (first, "same-1")]
        .into_iter()
        .map(|(url, jti)| {
            let (card, world) = (card.clone(), world.clone());
            std::thread::spawn(move || {
                let token = Relay::new(Shared(card), HttpClient::new())
                    .run(&url)
                    .unwrap();
                world.verify(&token, jti)
            })
        })
        .collect();
    let mut points: Vec<u64> = runs
        .into_iter()
        .map(|r| {
            let result = r.join().unwrap();
            assert_eq!(result.status, Status::Ok, "{result:?}");
            result.results[3].value.unwrap()
        })
        .collect();
    points.sort();
    assert_eq!(
        points,
        vec![70, 140],
        "one after the other, each ADD and SUB once"
    );

    // Several chips at once.
    let runs: Vec<_> = (0..4)
        .map(|i| {
            let world = world.clone();
            let cin = format!("0E0B0C0D0102030{i}");
            let mut card = world.chip(&cin, false);
            std::thread::spawn(move || {
                let jti = format!("many-{i}");
                let (url, _) = world.register(&jti, Some(&cin));
                let token = Relay::new(&mut card, HttpClient::new()).run(&url).unwrap();
                world.verify(&token, &jti).status
            })
        })
        .collect();
    for r in runs {
        assert_eq!(r.join().unwrap(), Status::Ok);
    }
}
