//! The server killed with SIGKILL at random points while transactions run, and restarted on
//! the same data directory: every transaction still ends with a verified result, no chip
//! command runs twice (a counter incremented once per transaction ends at exactly the number
//! of transactions), and the chip's counter tracking stays usable.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kazashi_protocol::envelope::{self, Audience, CommandClaims, Op, ResultPolicy, Status};
use kazashi_protocol::jose::{JwkSet, PrivateKey, PublicKey};
use kazashi_relay::{HttpClient, Relay};
use kazashi_se::{Store, VirtualCard};

fn cli(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kazashi-server"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn serve(dir: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kazashi-server"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills the server on drop.
struct Server(Arc<Mutex<Child>>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(mut child) = self.0.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn transactions_survive_a_server_killed_at_random_points() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let provider = PrivateKey::generate(&mut rand_core::OsRng);
    std::fs::write(
        dir.join("p.jwks"),
        JwkSet {
            keys: vec![provider.public_key().to_jwk()],
        }
        .to_json(),
    )
    .unwrap();
    cli(
        dir,
        &[
            "provider",
            "add",
            "--id",
            "shop",
            "--jwks",
            dir.join("p.jwks").to_str().unwrap(),
        ],
    );
    let state = dir.join("chip.json");
    cli(
        dir,
        &["chip", "personalize", "--state", state.to_str().unwrap()],
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let server = Server(Arc::new(Mutex::new(serve(dir, port))));

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let jwks = loop {
        if let Ok(mut r) = agent.get(&format!("{base}/.well-known/jwks.json")).call() {
            if r.status() == 200 {
                break JwkSet::from_json(r.body_mut().read_to_string().unwrap().as_bytes())
                    .unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let enc = PublicKey::from_jwk(
        jwks.keys
            .iter()
            .find(|k| k.use_.as_deref() == Some("enc"))
            .unwrap(),
    )
    .unwrap();

    // The killer: SIGKILL at a seeded random moment 40–200 ms after the server answers again
    // (counted from its readiness, not its start, so that a slow start on a loaded machine
    // still leaves it time to serve), restart at once on the same data.
    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicU32::new(0));
    let killer = {
        let (child, stop, kills, dir, agent, base) = (
            server.0.clone(),
            stop.clone(),
            kills.clone(),
            dir.to_path_buf(),
            agent.clone(),
            base.clone(),
        );
        std::thread::spawn(move || {
            let mut seed = 0x9E37_79B9_7F4A_7C15u64;
            while !stop.load(Ordering::Relaxed) {
                let ready = Instant::now();
                while !agent
                    .get(&format!("{base}/healthz"))
                    .call()
                    .is_ok_and(|r| r.status() == 200)
                {
                    assert!(
                        ready.elapsed() < Duration::from_secs(30),
                        "the restarted server never answered"
                    );
                    std::thread::sleep(Duration::from_millis(10));
                }
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                std::thread::sleep(Duration::from_millis(40 + seed % 160));
                let mut child = child.lock().unwrap();
                let _ = child.kill();
                let _ = child.wait();
                *child = serve(&dir, port);
                kills.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let mut card = VirtualCard::open(Store::new(&state)).unwrap();
    // Until enough transactions and kills have happened (some 6 s on an idle machine), within
    // a generous bound for a loaded one.
    let started = Instant::now();
    let mut completed = 0u64;
    let mut n = 0;
    while completed < 10 || kills.load(Ordering::Relaxed) < 30 {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "{completed} transactions and {} kills in 240 s",
            kills.load(Ordering::Relaxed)
        );
        n += 1;
        let now = kazashi_server::now();
        let jti = format!("crash-{n}");
        let claims = CommandClaims {
            iss: "shop".into(),
            aud: Audience::from(base.as_str()),
            jti: jti.clone(),
            iat: now,
            exp: now + 120,
            nbf: None,
            // No `sub`: a registration whose answer died with the server leaves a pending
            // transaction nobody runs; named for the chip, it would hold the chip
            // (`chip_busy`) until it expires.
            sub: None,
            ops: vec![
                Op::Add {
                    counter: "visits".into(),
                    amount: 1,
                },
                Op::Put {
                    record: "last".into(),
                    data: jti.as_bytes().to_vec(),
                },
            ],
        };
        let sealed =
            envelope::seal_command(&claims, &provider, &enc, &mut rand_core::OsRng).unwrap();
        // Registration may die with the server: the provider then registers a new command
        // (the lost one, if stored, expires unused).
        let Ok(mut response) = agent
            .post(&format!("{base}/v1/transactions"))
            .header("content-type", "application/jose")
            .send(sealed.as_str())
        else {
            continue;
        };
        if response.status() != 201 {
            continue;
        }
        let Ok(body) = response.body_mut().read_to_string() else {
            continue;
        };
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        let url = body["launch_url"].as_str().unwrap().to_owned();
        // The relay resends a message whose answer was lost; it never runs a script twice.
        let token = Relay::new(&mut card, HttpClient::new())
            .run(&url)
            .unwrap_or_else(|e| panic!("transaction {n} did not end: {e}"));
        let policy = ResultPolicy {
            server_keys: &jwks,
            issuer: &base,
            audience: "shop",
            command: Some(&jti),
            provider_key: None,
            now: kazashi_server::now(),
            leeway: 60,
            max_age: None,
        };
        let result = envelope::verify_result(&token, &policy).unwrap().claims;
        assert_eq!(result.status, Status::Ok, "transaction {n}: {result:?}");
        completed += 1;
        assert_eq!(
            result.results[0].value,
            Some(completed),
            "an ADD ran twice or not at all"
        );
    }
    stop.store(true, Ordering::Relaxed);
    killer.join().unwrap();
    let kills = kills.load(Ordering::Relaxed);
    eprintln!("{completed} transactions completed across {kills} server kills");
    assert!(kills >= 30, "only {kills} kills");
    assert!(completed >= 10, "only {completed} transactions");
}
