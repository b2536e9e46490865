//! The envelope flow of kazashi, in one process: a provider signs and seals a command, the
//! server opens and checks it, the server signs a result, the provider verifies it — and a
//! tampered result is refused. `cargo xtask demo` runs this until the full demo lands.

use std::time::{SystemTime, UNIX_EPOCH};

use kazashi_protocol::envelope::{
    self, Audience, CommandClaims, CommandPolicy, Op, OpResult, OpStatus, ProviderKey,
    ResultClaims, ResultPolicy, Status,
};
use kazashi_protocol::jose::jwk::{JwkSet, PrivateKey};
use rand_core::OsRng;

const SERVER: &str = "https://access.kazashi.example";
const PROVIDER: &str = "city-hall.example";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let provider_key = PrivateKey::generate(&mut OsRng);
    let server_signing = PrivateKey::generate(&mut OsRng);
    let server_encryption = PrivateKey::generate(&mut OsRng);

    println!("1. The city hall's backend builds a command for the citizen's chip:");
    let command = CommandClaims {
        iss: PROVIDER.into(),
        aud: Audience::from(SERVER),
        jti: "cmd-0001".into(),
        iat: now,
        exp: now + 120,
        nbf: None,
        sub: None,
        ops: vec![
            Op::Keygen {
                key: "resident-key".into(),
            },
            Op::Put {
                record: "resident-id".into(),
                data: "山田花子 / 1985-04-01".as_bytes().to_vec(),
            },
            Op::Add {
                counter: "points".into(),
                amount: 100,
            },
        ],
    };
    for op in &command.ops {
        println!("     {op:?}");
    }
    let sealed = envelope::seal_command(
        &command,
        &provider_key,
        &server_encryption.public_key(),
        &mut OsRng,
    )?;
    println!(
        "   signed (ES256) and sealed (ECDH-ES+A256KW, A256GCM) to the server: {} bytes",
        sealed.len()
    );
    println!(
        "   what the phone and the common app see: {}…",
        &sealed[..72]
    );

    println!("2. The server opens it and checks the provider's signature, typ, audience, time:");
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
    println!(
        "   ok: {} operations from {}",
        opened.claims.ops.len(),
        opened.claims.iss
    );

    println!("3. (the chip runs them over SCP03 — the server's part, coming next)");
    let result = ResultClaims {
        iss: SERVER.into(),
        aud: Audience::from(PROVIDER),
        jti: "txn-0001".into(),
        cmd: opened.claims.jti.clone(),
        iat: now,
        chip: "chip-demo".into(),
        status: Status::Ok,
        reason: None,
        results: opened
            .claims
            .ops
            .iter()
            .map(|_| OpResult::with_status(OpStatus::Ok))
            .collect(),
    };
    let token = envelope::sign_result(&result, &server_signing)?;
    println!("4. The server signs the result: {} bytes", token.len());

    let jwks = JwkSet {
        keys: vec![server_signing.public_key().to_jwk()],
    };
    let policy = ResultPolicy {
        server_keys: &jwks,
        issuer: SERVER,
        audience: PROVIDER,
        command: Some("cmd-0001"),
        provider_key: None,
        now,
        leeway: envelope::DEFAULT_LEEWAY,
        max_age: Some(300),
    };
    let verified = envelope::verify_result(&token, &policy)?;
    println!(
        "5. The city hall verifies it: status {:?}, {} results",
        verified.claims.status,
        verified.claims.results.len()
    );

    let mut tampered = token.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered)?;
    match envelope::verify_result(&tampered, &policy) {
        Err(e) => println!(
            "6. A result changed on the way is refused: {} ({e})",
            e.code()
        ),
        Ok(_) => return Err("a tampered result was accepted".into()),
    }
    Ok(())
}
