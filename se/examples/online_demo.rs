//! The online flow in one process, with a virtual chip: what `cargo xtask demo` shows until
//! the server and the demo site land.
//!
//! A city hall seals a command (a key generated on the chip, a resident-ID record, points);
//! the server side opens and checks it, plans it for the chip and builds ONE relay script from
//! the predicted SCP03 card challenge; a relay that holds no keys runs the script against the
//! virtual chip; the server checks every R-MAC and signs the result; the city hall verifies it.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use kazashi_protocol::envelope::{
    self, Audience, CommandClaims, CommandPolicy, Op, ProviderKey, ResultClaims, ResultPolicy,
};
use kazashi_protocol::jose::{JwkSet, PrivateKey};
use kazashi_protocol::online::{self, Progress, Transaction};
use kazashi_protocol::scp03::{Challenge, SMode};
use kazashi_se::{CardState, Profile, VirtualCard};
use rand_core::OsRng;

const SERVER: &str = "https://access.kazashi.example";
const PROVIDER: &str = "city-hall.example";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut rng = OsRng;
    let provider_key = PrivateKey::generate(&mut rng);
    let server_signing = PrivateKey::generate(&mut rng);
    let server_encryption = PrivateKey::generate(&mut rng);
    let mut card = VirtualCard::in_memory(CardState::new(Profile::random(&mut rng)));
    let chip_id = card.state().profile.chip_id();
    println!(
        "kazashi — online flow with a virtual chip {chip_id} (SCP03, AES-128, pseudo-random challenge)\n"
    );

    let command = CommandClaims {
        iss: PROVIDER.into(),
        aud: Audience::from(SERVER),
        jti: format!("cmd-{now}"),
        iat: now,
        exp: now + 120,
        nbf: None,
        sub: Some(chip_id.clone()),
        ops: vec![
            Op::Keygen {
                key: "resident-key".into(),
            },
            Op::Put {
                record: "resident-id".into(),
                data: "山田花子 / 1985-04-01 / 東京都千代田区".as_bytes().to_vec(),
            },
            Op::Get {
                record: "resident-id".into(),
            },
            Op::Add {
                counter: "points".into(),
                amount: 100,
            },
        ],
    };
    println!(
        "1. The city hall's backend signs (ES256) and seals (ECDH-ES+A256KW/A256GCM) a command:"
    );
    for op in &command.ops {
        println!("     {op:?}");
    }
    let sealed = envelope::seal_command(
        &command,
        &provider_key,
        &server_encryption.public_key(),
        &mut rng,
    )?;
    println!(
        "   {} bytes; the phone sees only: {}…\n",
        sealed.len(),
        &sealed[..60]
    );

    println!("2. The server opens it: provider signature, typ, audience, expiry — then plans it:");
    let provider_kid = provider_key.public_key().thumbprint();
    let opened = envelope::open_command(
        &sealed,
        |_| Some(&server_encryption),
        |kid| {
            (kid == provider_kid).then(|| ProviderKey {
                provider: PROVIDER.into(),
                key: provider_key.public_key(),
            })
        },
        &CommandPolicy::new(SERVER, now),
    )?;
    let segments = online::plan(&opened.claims, &opened.claims.iss)?;
    let mut transaction = Transaction::new(segments, opened.claims.ops.len());

    // What the server knows of the chip: its keys (diversified from a master key in production)
    // and the last sequence counter it saw.
    let (keys, mut chip) = card.state().profile.host_view()?;

    let mut script =
        transaction.next_script(&keys, &chip, Challenge::random(SMode::S8, &mut rng))?;
    while let Some(current) = script {
        println!(
            "3. The server sends ONE script to the common app ({} APDUs, level 33: C-MAC, C-ENC, R-MAC, R-ENC):",
            current.apdus.len()
        );
        for apdu in &current.apdus {
            let hex = kazashi_protocol::hex::encode_upper(&apdu.capdu);
            let shown = if hex.len() > 64 {
                format!("{}… ({} bytes)", &hex[..64], apdu.capdu.len())
            } else {
                hex
            };
            println!("     → {shown}");
        }
        let mut run = current.start()?;
        while let Some(apdu) = run.next_apdu() {
            let response = card.process(apdu);
            run.handle_response(&response);
        }
        let report = run.finish();
        println!(
            "4. The relay (no keys) ran it on the chip and returns {} responses.",
            report.rapdus.len()
        );
        script = match transaction.handle_report(&keys, &chip, &current, &report)? {
            Progress::Continue { counter } => {
                if let Some(counter) = counter {
                    chip.counter = counter;
                }
                transaction.next_script(&keys, &chip, Challenge::random(SMode::S8, &mut rng))?
            }
            Progress::Script(next) => Some(next),
            other => return Err(format!("transaction ended: {other:?}").into()),
        };
    }
    let exchanges = transaction.exchanges();
    let (status, results) = transaction.finish();
    println!(
        "5. The server verified every R-MAC: {exchanges} relay exchange(s); the chip's counter is now {}.",
        chip.counter.value()
    );

    let result = ResultClaims {
        iss: SERVER.into(),
        aud: Audience::from(PROVIDER),
        jti: format!("txn-{now}"),
        cmd: opened.claims.jti.clone(),
        iat: now,
        chip: chip_id,
        status,
        reason: None,
        results,
    };
    let token = envelope::sign_result(&result, &server_signing)?;
    let jwks = JwkSet {
        keys: vec![server_signing.public_key().to_jwk()],
    };
    let policy = ResultPolicy {
        server_keys: &jwks,
        issuer: SERVER,
        audience: PROVIDER,
        command: Some(&opened.claims.jti),
        provider_key: None,
        now,
        leeway: envelope::DEFAULT_LEEWAY,
        max_age: Some(300),
    };
    let verified = envelope::verify_result(&token, &policy)?;
    println!(
        "6. The city hall verifies the signed result ({} bytes): status {:?}",
        token.len(),
        verified.claims.status
    );
    for (op, r) in opened.claims.ops.iter().zip(&verified.claims.results) {
        let detail = if let Some(data) = &r.data {
            format!("data {:?}", String::from_utf8_lossy(data))
        } else if let Some(value) = r.value {
            format!("value {value}")
        } else if let Some(jwk) = &r.jwk {
            format!("public key x={}…", &jwk.x.as_deref().unwrap_or("")[..12])
        } else {
            String::new()
        };
        println!("     {op:?}: {:?} {detail}", r.status);
    }
    let mut tampered = token.into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    match envelope::verify_result(&String::from_utf8(tampered)?, &policy) {
        Err(e) => println!("7. A result changed on the way is refused: {}", e.code()),
        Ok(_) => return Err("a tampered result was accepted".into()),
    }
    println!(
        "\nDone in {:.1} ms of compute. The full demo (server on SQLite, the provider's mobile site) comes next.",
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
