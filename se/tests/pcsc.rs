//! The virtual card through the real PC/SC stack: a private `pcscd` with vsmartcard's vpcd
//! driver, `kazashi-se serve` attached to it, and hosts that only speak PC/SC:
//! - `kazashi_se::PcscReader` (the `pcsc` crate) with the protocol crate's SCP03 host: every
//!   ID-store instruction at level 33, and GlobalPlatform GET DATA;
//! - pcscd killed and restarted: `kazashi-se serve` reconnects and the data is still there;
//! - `scriptor` (pcsc-tools) as an independent PC/SC client;
//! - yubikit (PyPI `yubikey-manager`) as an independent SCP03 host (`tests/yubikit/`).
//!
//! `harness = false`: the test starts its own processes and runs each PC/SC client phase as a
//! child process of this binary, with `PCSCLITE_CSOCK_NAME` naming the private pcscd (libpcsclite
//! reads it once per process). Missing pcscd or vpcd fails the test unless
//! `KAZASHI_SKIP_PCSC=1`; a missing yubikit venv fails it unless `KAZASHI_SKIP_YUBIKIT=1`.
//! `cargo xtask test` installs both.

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use common::procs::{self, Guard, Pcscd, READER};
use common::*;
use kazashi_protocol::apdu::{Command as Apdu, StatusWord};
use kazashi_protocol::hex;
use kazashi_protocol::idstore::{Kind, Reply, Request};
use kazashi_protocol::scp03::SecurityLevel;
use kazashi_protocol::tlv::Tlv;
use kazashi_se::{CardTransport, PcscReader};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};

const NAME: &str = "pcsc_through_pcscd_and_vpcd";
const PHASE: &str = "KAZASHI_PCSC_PHASE";
const PUBLIC_KEY: &str = "KAZASHI_PCSC_PUBLIC_KEY";
const KVN: u8 = 0x30;
const ISD_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00];
const DIGEST: [u8; 32] = [0x5A; 32];

fn main() -> ExitCode {
    if let Ok(phase) = std::env::var(PHASE) {
        return match phase.as_str() {
            "full" => child_full(),
            "again" => child_again(),
            other => panic!("unknown phase {other}"),
        };
    }
    if procs::filtered_out(NAME) {
        return ExitCode::SUCCESS;
    }
    println!("\nrunning 1 test");
    let started = Instant::now();
    let missing: Vec<&str> = [("pcscd", "pcscd"), (procs::VPCD_DRIVER, "vsmartcard-vpcd")]
        .into_iter()
        .filter(|(program, _)| !procs::have(program))
        .map(|(_, package)| package)
        .collect();
    if !missing.is_empty() {
        if std::env::var("KAZASHI_SKIP_PCSC").as_deref() == Ok("1") {
            println!("test {NAME} ... skipped (KAZASHI_SKIP_PCSC=1; missing {missing:?})");
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "test {NAME} FAILED: the Debian packages {missing:?} are not installed.\n\
             Run `cargo xtask test` (it installs them), or `apt-get install pcscd \
             vsmartcard-vpcd pcsc-tools`, or set KAZASHI_SKIP_PCSC=1 to skip."
        );
        return ExitCode::FAILURE;
    }
    scenario();
    println!(
        "test {NAME} ... ok ({:.1} s)\n\ntest result: ok. 1 passed; 0 failed",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

fn scenario() {
    let dir = procs::scratch("pcsc");
    let state = dir.join("chip.json");
    let created = Command::new(env!("CARGO_BIN_EXE_kazashi-se"))
        .args(["new", "--state"])
        .arg(&state)
        .args(["--kvn", &format!("0x{KVN:02X}")])
        .args(["--enc", &hex::encode_upper(&ENC)])
        .args(["--mac", &hex::encode_upper(&MAC)])
        .args(["--dek", &hex::encode_upper(&DEK)])
        .output()
        .unwrap();
    assert!(created.status.success(), "kazashi-se new: {created:?}");

    let mut pcscd = Pcscd::start(&dir, procs::free_port_pair());
    let serve_log = dir.join("serve.log");
    let mut serve = Guard::spawn(
        "kazashi-se serve",
        Command::new(env!("CARGO_BIN_EXE_kazashi-se"))
            .args(["serve", "--state"])
            .arg(&state)
            .args(["--vpcd", &format!("127.0.0.1:{}", pcscd.port)])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&serve_log).unwrap()),
    );
    let pcscd_log = pcscd.log.clone();
    let logs = || {
        format!(
            "\n--- serve.log\n{}\n--- pcscd.log\n{}",
            std::fs::read_to_string(&serve_log).unwrap_or_default(),
            std::fs::read_to_string(&pcscd_log).unwrap_or_default()
        )
    };

    // 1. Every instruction through pcscd.
    let output = run_phase(&pcscd, "full", &[]);
    assert!(output.0, "PC/SC phase 1 failed:\n{}{}", output.1, logs());
    let public = output
        .1
        .lines()
        .find_map(|l| l.strip_prefix("public key "))
        .expect("phase 1 prints the public key")
        .to_string();
    print!("{}", output.1);

    // 2. An independent PC/SC client: scriptor sends SELECT ISD and GET DATA CPLC in plain.
    if procs::have("scriptor") {
        let script = dir.join("script.apdu");
        std::fs::write(
            &script,
            "00 A4 04 00 08 A0 00 00 01 51 00 00 00\n80 CA 9F 7F 00\n",
        )
        .unwrap();
        let out = Command::new("scriptor")
            .args(["-r", READER])
            .arg(&script)
            .env(pcscd.env().0, pcscd.env().1)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("9F 7F 2A") && text.contains("90 00"),
            "scriptor: {out:?}{}",
            logs()
        );
        println!("scriptor: SELECT ISD and GET DATA 9F7F answered 9000");
    } else {
        println!("scriptor (pcsc-tools) not installed: independent check skipped");
    }

    // 3. pcscd dies and comes back: the card side reconnects by itself.
    let reconnects = || {
        std::fs::read_to_string(&serve_log)
            .unwrap_or_default()
            .matches("connected to vpcd")
            .count()
    };
    assert_eq!(reconnects(), 1, "{}", logs());
    let killed = Instant::now();
    pcscd.restart();
    assert!(
        procs::wait_for_log(&serve_log, "connected to vpcd", 2, Duration::from_secs(15)),
        "kazashi-se serve did not reconnect to the restarted pcscd{}",
        logs()
    );
    assert!(serve.alive(), "kazashi-se serve exited{}", logs());
    let output = run_phase(&pcscd, "again", &[(PUBLIC_KEY, &public)]);
    assert!(output.0, "PC/SC phase 2 failed:\n{}{}", output.1, logs());
    print!("{}", output.1);
    println!(
        "pcscd restarted; card back and read in {:.2} s",
        killed.elapsed().as_secs_f64()
    );

    // 4. yubikit as an independent SCP03 host.
    yubikit(&pcscd, &logs);

    serve.terminate(Duration::from_secs(3));
    drop(pcscd);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs this binary as a PC/SC client against `pcscd`; (success, stdout + stderr).
fn run_phase(pcscd: &Pcscd, phase: &str, env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(PHASE, phase)
        .env(pcscd.env().0, pcscd.env().1)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn yubikit(pcscd: &Pcscd, logs: &dyn Fn() -> String) {
    let python = std::env::var_os("KAZASHI_YUBIKIT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/yubikit-venv/bin/python")
        });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/yubikit/scp03_check.py");
    if !python.exists() {
        if std::env::var("KAZASHI_SKIP_YUBIKIT").as_deref() == Ok("1") {
            println!("yubikit: skipped (KAZASHI_SKIP_YUBIKIT=1)");
            return;
        }
        panic!(
            "yubikit's venv is missing ({}). Run `cargo xtask test` (it creates it), or\n  \
             python3 -m venv target/yubikit-venv && target/yubikit-venv/bin/pip install -r \
             se/tests/yubikit/requirements.txt\nor set KAZASHI_SKIP_YUBIKIT=1 to skip this check.",
            python.display()
        );
    }
    let out = Command::new(&python)
        .arg(&script)
        .args(["--reader", READER, "--kvn", &KVN.to_string()])
        .args(["--enc", &hex::encode_upper(&ENC)])
        .args(["--mac", &hex::encode_upper(&MAC)])
        .args(["--dek", &hex::encode_upper(&DEK)])
        .env(pcscd.env().0, pcscd.env().1)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "yubikit SCP03 check failed:\n{text}{}",
        logs()
    );
    // The key information template (GP §11.3.3.1): keys 1-3 of version 0x30, AES (88), 16 bytes.
    let expected = format!("E012C00401{KVN:02X}8810C00402{KVN:02X}8810C00403{KVN:02X}8810");
    assert!(
        text.contains(&format!("key information template {expected}")),
        "yubikit read an unexpected template:\n{text}"
    );
    print!("{text}");
}

// ---- PC/SC client phases (child processes) ----

fn wait_for_card() -> PcscReader {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match PcscReader::connect(READER) {
            Ok(reader) => return reader,
            Err(e) if Instant::now() > deadline => {
                let readers = PcscReader::list();
                panic!("no card in {READER:?} after 15 s: {e}; readers: {readers:?}");
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// GET DATA in plain on the selected ISD.
fn get_data(card: &mut impl CardTransport, p1: u8, p2: u8) -> Vec<u8> {
    let response = send(card, &Apdu::new(0x80, 0xCA, p1, p2).with_le(256));
    assert_eq!(response.sw, StatusWord::Ok, "GET DATA {p1:02X}{p2:02X}");
    response.data
}

fn child_full() -> ExitCode {
    let started = Instant::now();
    let mut card = wait_for_card();
    println!(
        "card present in {READER} after {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // GlobalPlatform data from the ISD, outside a secure channel.
    assert_eq!(select(&mut card, &ISD_AID).sw, StatusWord::Ok);
    let recognition = get_data(&mut card, 0x00, 0x66);
    assert_eq!(recognition[0], 0x66);
    let key_info = get_data(&mut card, 0x00, 0xE0);
    assert_eq!(
        hex::encode_upper(&key_info),
        format!("E012C00401{KVN:02X}8810C00402{KVN:02X}8810C00403{KVN:02X}8810")
    );
    let cplc = get_data(&mut card, 0x9F, 0x7F);
    assert_eq!(cplc.len(), 3 + 42);
    let cin = get_data(&mut card, 0x00, 0x45);
    assert_eq!(cin[0], 0x45);
    println!("GET DATA 0066, 00E0, 9F7F, 0045: ok");

    // GET DATA 00E0 through an SCP03 session on the ISD (CLA 84, level 33).
    let mut channel = open_selected(&mut card, SecurityLevel::Full, false);
    let (wrapped, pending) = channel
        .wrap(&Apdu::new(0x80, 0xCA, 0x00, 0xE0).with_le(256))
        .unwrap();
    let response = send(&mut card, &wrapped);
    let plain = channel.unwrap(pending, &response).unwrap();
    assert_eq!(plain.response().sw, StatusWord::Ok);
    assert_eq!(plain.response().data, key_info);
    let parsed = Tlv::parse(&plain.response().data);
    assert!(parsed.is_ok(), "the template is BER-TLV");
    println!("GET DATA 00E0 through SCP03 level 33: ok");

    // Every ID-store instruction, SCP03 level 33 (C-MAC, C-DEC, R-MAC, R-ENC).
    let mut channel = open(&mut card, SecurityLevel::Full, false);
    let mut run_ok = |request: &Request| {
        run(&mut card, &mut channel, request).unwrap_or_else(|sw| panic!("{request:?}: {sw}"))
    };
    let big: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    assert_eq!(
        run_ok(&Request::PutRecord {
            slot: slot("resident-id"),
            value: "山田太郎".as_bytes().to_vec(),
        }),
        Reply::Done
    );
    assert_eq!(
        run_ok(&Request::PutRecord {
            slot: slot("big"),
            value: big.clone(),
        }),
        Reply::Done
    );
    assert_eq!(
        run_ok(&Request::GetRecord(slot("resident-id"))),
        Reply::Value("山田太郎".as_bytes().to_vec())
    );
    assert_eq!(run_ok(&Request::GetRecord(slot("big"))), Reply::Value(big));
    assert_eq!(run_ok(&Request::DeleteRecord(slot("big"))), Reply::Done);
    let add = Request::Add {
        slot: slot("points"),
        amount: 100,
    };
    assert_eq!(run_ok(&add), Reply::Counter(100));
    let sub = |amount| Request::Sub {
        slot: slot("points"),
        amount,
    };
    assert_eq!(run_ok(&sub(30)), Reply::Counter(70));
    let Reply::PublicKey(public) = run_ok(&Request::GenerateKey(slot("cert"))) else {
        panic!("GENERATE KEY answers a public key");
    };
    let Reply::Signature(signature) = run_ok(&Request::Sign {
        slot: slot("cert"),
        digest: DIGEST,
    }) else {
        panic!("SIGN answers a signature");
    };
    VerifyingKey::from_sec1_bytes(&public)
        .unwrap()
        .verify_prehash(&DIGEST, &Signature::from_slice(&signature).unwrap())
        .expect("the card's signature verifies with p256");
    assert_eq!(
        run_ok(&Request::GetPublicKey(slot("cert"))),
        Reply::PublicKey(public)
    );
    assert_eq!(
        run_ok(&Request::List {
            namespace: b"city-hall".to_vec()
        }),
        Reply::Names(vec![
            (b"cert".to_vec(), Kind::Key),
            (b"points".to_vec(), Kind::Counter),
            (b"resident-id".to_vec(), Kind::Record),
        ])
    );
    // Underflow: 6985, the counter unchanged, the session still open.
    assert_eq!(
        run(&mut card, &mut channel, &sub(71)),
        Err(StatusWord::ConditionsNotSatisfied)
    );
    assert_eq!(
        run(&mut card, &mut channel, &sub(0)),
        Ok(Reply::Counter(70))
    );
    println!(
        "ID-store through pcscd: PUT/GET/DELETE RECORD, COUNTER add/sub/underflow 6985, GENERATE KEY, SIGN (p256-verified), GET PUBLIC KEY, LIST: ok"
    );
    println!("public key {}", hex::encode_upper(&public));
    ExitCode::SUCCESS
}

fn child_again() -> ExitCode {
    let expected = std::env::var(PUBLIC_KEY).unwrap();
    let started = Instant::now();
    let mut card = wait_for_card();
    println!(
        "after the pcscd restart: card present in {READER} after {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let mut channel = open(&mut card, SecurityLevel::Full, false);
    assert_eq!(
        run(
            &mut card,
            &mut channel,
            &Request::GetRecord(slot("resident-id"))
        ),
        Ok(Reply::Value("山田太郎".as_bytes().to_vec()))
    );
    assert_eq!(
        run(
            &mut card,
            &mut channel,
            &Request::Add {
                slot: slot("points"),
                amount: 5,
            }
        ),
        Ok(Reply::Counter(75))
    );
    let Ok(Reply::PublicKey(public)) = run(
        &mut card,
        &mut channel,
        &Request::GetPublicKey(slot("cert")),
    ) else {
        panic!("GET PUBLIC KEY");
    };
    assert_eq!(hex::encode_upper(&public), expected);
    let Ok(Reply::Signature(signature)) = run(
        &mut card,
        &mut channel,
        &Request::Sign {
            slot: slot("cert"),
            digest: DIGEST,
        },
    ) else {
        panic!("SIGN");
    };
    VerifyingKey::from_sec1_bytes(&public)
        .unwrap()
        .verify_prehash(&DIGEST, &Signature::from_slice(&signature).unwrap())
        .unwrap();
    println!("after the restart: record, counter (70 + 5), key and signature: ok");
    ExitCode::SUCCESS
}
