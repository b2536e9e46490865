//! The online flow through real PC/SC: kazashi-server (the binary), a virtual chip it
//! personalized served by `kazashi-se serve` to a private pcscd through vpcd, and the desktop
//! common app `kazashi-relay run LAUNCH_URL --reader "Virtual PCD 00 00"`. A `harness = false`
//! test: one scenario, every process killed on exit.

#[path = "../../se/tests/common/procs.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod procs;

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use kazashi_protocol::envelope::{self, Audience, CommandClaims, Op, ResultPolicy, Status};
use kazashi_protocol::jose::{JwkSet, PrivateKey, PublicKey};
use procs::{Guard, Pcscd};

const NAME: &str = "relay_through_pcscd";

fn main() -> ExitCode {
    let missing: Vec<&str> = ["pcscd", "scriptor"]
        .into_iter()
        .filter(|p| !procs::have(p))
        .collect();
    if !missing.is_empty() {
        if std::env::var("KAZASHI_SKIP_PCSC").as_deref() == Ok("1") {
            println!("test {NAME} ... skipped (KAZASHI_SKIP_PCSC=1)");
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "test {NAME} FAILED: {missing:?} missing; run `cargo xtask test` (it installs them)"
        );
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    scenario();
    println!(
        "test {NAME} ... ok ({:.1} s)\n\ntest result: ok. 1 passed; 0 failed",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

/// A sibling package's binary in this build's target directory, built if missing.
fn sibling_binary(package: &str) -> PathBuf {
    let server = PathBuf::from(env!("CARGO_BIN_EXE_kazashi-server"));
    let path = server.with_file_name(package);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", package])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building {package}");
    }
    path
}

fn server_cli(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kazashi-server"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("kazashi-server runs");
    assert!(
        out.status.success(),
        "kazashi-server {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn scenario() {
    let dir = procs::scratch("relay-pcsc");
    let provider = PrivateKey::generate(&mut rand_core::OsRng);
    let jwks_file = dir.join("provider.jwks");
    std::fs::write(
        &jwks_file,
        JwkSet {
            keys: vec![provider.public_key().to_jwk()],
        }
        .to_json(),
    )
    .expect("write the provider's JWKS");
    server_cli(
        &dir,
        &[
            "provider",
            "add",
            "--id",
            "city-hall",
            "--jwks",
            jwks_file.to_str().expect("utf-8"),
        ],
    );
    let state = dir.join("chip.json");
    let chip = server_cli(
        &dir,
        &[
            "chip",
            "personalize",
            "--state",
            state.to_str().expect("utf-8"),
        ],
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let issuer = format!("http://127.0.0.1:{port}");
    let _server = Guard::spawn(
        "kazashi-server serve",
        Command::new(env!("CARGO_BIN_EXE_kazashi-server"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(&dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null()),
    );
    let pcscd = Pcscd::start(&dir, procs::free_port_pair());
    let _card = Guard::spawn(
        "kazashi-se serve",
        Command::new(sibling_binary("kazashi-se"))
            .args(["serve", "--state"])
            .arg(&state)
            .args(["--vpcd", &format!("127.0.0.1:{}", pcscd.port)])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );

    // The server's keys, once it answers.
    let deadline = Instant::now() + Duration::from_secs(20);
    let jwks = loop {
        if let Ok(mut r) = ureq::get(&format!("{issuer}/.well-known/jwks.json")).call() {
            break JwkSet::from_json(r.body_mut().read_to_string().expect("body").as_bytes())
                .expect("JWKS");
        }
        assert!(Instant::now() < deadline, "kazashi-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    let enc = jwks
        .keys
        .iter()
        .find(|k| k.use_.as_deref() == Some("enc"))
        .expect("an encryption key");
    let encryption = PublicKey::from_jwk(enc).expect("a P-256 key");

    let now = kazashi_server::now();
    let claims = CommandClaims {
        iss: "city-hall".into(),
        aud: Audience::from(issuer.as_str()),
        jti: "pcsc-1".into(),
        iat: now,
        exp: now + 120,
        nbf: None,
        sub: Some(chip.clone()),
        ops: vec![
            Op::Put {
                record: "resident-id".into(),
                data: b"through pcscd".to_vec(),
            },
            Op::Get {
                record: "resident-id".into(),
            },
            Op::Add {
                counter: "points".into(),
                amount: 5,
            },
            Op::Keygen { key: "cert".into() },
        ],
    };
    let sealed = envelope::seal_command(&claims, &provider, &encryption, &mut rand_core::OsRng)
        .expect("seal");
    let mut response = ureq::post(&format!("{issuer}/v1/transactions"))
        .header("content-type", "application/jose")
        .send(sealed.as_str())
        .expect("registration");
    let body: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().expect("body")).expect("JSON");
    let launch = body["launch_url"].as_str().expect("launch_url");

    // The desktop common app through the PC/SC reader (retrying while vpcd connects).
    let (name, socket) = pcscd.env();
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let out = Command::new(sibling_binary("kazashi-relay"))
            .args(["run", launch, "--reader", "Virtual PCD 00 00"])
            .env(name, socket)
            .output()
            .expect("kazashi-relay runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() || Instant::now() > deadline || !stderr.contains("reader") {
            break out;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kazashi-relay: {stderr}");
    assert!(stderr.contains("1 exchange"), "{stderr}");
    let token = String::from_utf8(out.stdout).expect("utf-8");
    let policy = ResultPolicy {
        server_keys: &jwks,
        issuer: &issuer,
        audience: "city-hall",
        command: Some("pcsc-1"),
        provider_key: None,
        now: kazashi_server::now(),
        leeway: 60,
        max_age: Some(300),
    };
    let result = envelope::verify_result(token.trim(), &policy)
        .expect("a verified result")
        .claims;
    assert_eq!(result.status, Status::Ok, "{result:?}");
    assert_eq!(
        result.results[1].data.as_deref(),
        Some(&b"through pcscd"[..])
    );
    assert_eq!(result.results[2].value, Some(5));
    assert_eq!(result.chip, chip);
    println!(
        "relay through pcscd: {} ops verified, 1 exchange",
        result.results.len()
    );
}
