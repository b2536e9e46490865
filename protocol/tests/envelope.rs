//! Command and result envelopes: round trips and the negative corpus of `docs/envelopes.md`.

use kazashi_protocol::envelope::{
    self, Audience, CommandClaims, CommandPolicy, EnvelopeError, Op, OpResult, OpStatus,
    ProviderKey, ResultClaims, ResultPolicy, Status, VerifiedCommand,
};
use kazashi_protocol::jose::jwk::{JwkSet, PrivateKey};
use kazashi_protocol::jose::{HeaderParams, JoseError, b64, jwe, jws};
use rand_core::{CryptoRng, RngCore};

const SERVER: &str = "https://server.test";
const PROVIDER: &str = "city-hall";
const NOW: u64 = 1_800_000_000;

/// A deterministic rng for reproducible tokens (a 64-bit LCG: for tests only).
struct TestRng(u64);
impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 16
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u64() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for TestRng {}

fn rng(seed: u64) -> TestRng {
    TestRng(seed)
}

struct World {
    provider: PrivateKey,
    server_sig: PrivateKey,
    server_enc: PrivateKey,
    provider_enc: PrivateKey,
    rng: TestRng,
}

fn world() -> World {
    let mut rng = rng(7);
    World {
        provider: PrivateKey::generate(&mut rng),
        server_sig: PrivateKey::generate(&mut rng),
        server_enc: PrivateKey::generate(&mut rng),
        provider_enc: PrivateKey::generate(&mut rng),
        rng,
    }
}

fn command() -> CommandClaims {
    CommandClaims {
        iss: PROVIDER.into(),
        aud: Audience::from(SERVER),
        jti: "cmd-1".into(),
        iat: NOW,
        exp: NOW + 300,
        nbf: None,
        sub: Some("chip-1".into()),
        ops: vec![
            Op::Put {
                record: "resident-id".into(),
                data: b"Yamada Taro".to_vec(),
            },
            Op::Get {
                record: "resident-id".into(),
            },
            Op::Delete {
                record: "old".into(),
            },
            Op::Add {
                counter: "points".into(),
                amount: 10,
            },
            Op::Sub {
                counter: "points".into(),
                amount: 3,
            },
            Op::Keygen { key: "cert".into() },
            Op::Apdu {
                aid: vec![0xA0, 0, 0, 0, 0x62],
                capdu: vec![0x00, 0xB0, 0x00, 0x00, 0x10],
            },
        ],
    }
}

fn result() -> ResultClaims {
    ResultClaims {
        iss: SERVER.into(),
        aud: Audience::from(PROVIDER),
        jti: "txn-1".into(),
        cmd: "cmd-1".into(),
        iat: NOW,
        chip: "chip-1".into(),
        status: Status::Ok,
        reason: None,
        results: vec![
            OpResult {
                value: Some(7),
                ..OpResult::ok()
            },
            OpResult::with_status(OpStatus::Skipped),
        ],
    }
}

impl World {
    fn open(&self, token: &str, now: u64) -> Result<VerifiedCommand, EnvelopeError> {
        let kid = self.provider.public_key().thumbprint();
        envelope::open_command(
            token,
            |k| (k == self.server_enc.public_key().thumbprint()).then_some(&self.server_enc),
            |k| {
                (k == kid).then(|| ProviderKey {
                    provider: PROVIDER.into(),
                    key: self.provider.public_key(),
                })
            },
            &CommandPolicy::new(SERVER, now),
        )
    }

    fn seal(&mut self, claims: &CommandClaims) -> String {
        envelope::seal_command(
            claims,
            &self.provider,
            &self.server_enc.public_key(),
            &mut self.rng,
        )
        .unwrap()
    }

    fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.server_sig.public_key().to_jwk()],
        }
    }

    fn verify(
        &self,
        token: &str,
        command: Option<&str>,
        now: u64,
    ) -> Result<ResultClaims, EnvelopeError> {
        let jwks = self.jwks();
        let policy = ResultPolicy {
            server_keys: &jwks,
            issuer: SERVER,
            audience: PROVIDER,
            command,
            provider_key: Some(&self.provider_enc),
            now,
            leeway: envelope::DEFAULT_LEEWAY,
            max_age: Some(600),
        };
        envelope::verify_result(token, &policy).map(|v| v.claims)
    }
}

/// Signs arbitrary JSON claims with a header of our choosing and seals them, bypassing the
/// envelope builder's own validation: how an attacker or a careless provider would.
fn forge(
    w: &mut World,
    header: HeaderParams,
    claims: &serde_json::Value,
    signer: &PrivateKey,
) -> String {
    let signed = jws::sign(&header, claims.to_string().as_bytes(), signer).unwrap();
    let seal = HeaderParams {
        typ: None,
        kid: Some(w.server_enc.public_key().thumbprint()),
        cty: Some("JWT".into()),
    };
    jwe::encrypt(
        signed.as_bytes(),
        &w.server_enc.public_key(),
        jwe::KeyManagement::EcdhEsA256Kw,
        &seal,
        &mut w.rng,
    )
    .unwrap()
}

fn command_header(w: &World, typ: &str) -> HeaderParams {
    HeaderParams {
        typ: Some(typ.into()),
        kid: Some(w.provider.public_key().thumbprint()),
        cty: None,
    }
}

#[test]
fn command_round_trip_with_every_op() {
    let mut w = world();
    let token = w.seal(&command());
    assert_eq!(token.split('.').count(), 5);
    let opened = w.open(&token, NOW + 10).unwrap();
    assert_eq!(opened.claims, command());
    assert_eq!(opened.kid, w.provider.public_key().thumbprint());
    assert_eq!(
        jws::decode(&opened.signed).unwrap().header().typ.as_deref(),
        Some(envelope::COMMAND_TYP)
    );
}

#[test]
fn result_round_trip_signed_and_sealed() {
    let mut w = world();
    let signed = envelope::sign_result(&result(), &w.server_sig).unwrap();
    assert_eq!(w.verify(&signed, Some("cmd-1"), NOW).unwrap(), result());
    let sealed = envelope::seal_result(
        &result(),
        &w.server_sig,
        &w.provider_enc.public_key(),
        &mut w.rng,
    )
    .unwrap();
    assert_eq!(w.verify(&sealed, Some("cmd-1"), NOW).unwrap(), result());
}

#[test]
fn refusals_of_the_command_path() {
    let mut w = world();
    let good = w.seal(&command());
    // Time.
    assert_eq!(
        w.open(&good, NOW + 300 + 61).unwrap_err(),
        EnvelopeError::Expired
    );
    assert!(w.open(&good, NOW + 300 + 60).is_ok(), "leeway of 60 s");
    assert_eq!(
        w.open(&good, NOW - 61).unwrap_err(),
        EnvelopeError::IssuedInFuture
    );
    let mut later = command();
    later.nbf = Some(NOW + 100);
    let token = w.seal(&later);
    assert_eq!(w.open(&token, NOW).unwrap_err(), EnvelopeError::NotYetValid);
    let mut long = command();
    long.exp = NOW + 601;
    let token = w.seal(&long);
    assert_eq!(
        w.open(&token, NOW).unwrap_err(),
        EnvelopeError::LifetimeTooLong
    );
    // Audience and issuer.
    let mut other_aud = command();
    other_aud.aud = Audience::Many(vec!["https://other.test".into()]);
    let token = w.seal(&other_aud);
    assert_eq!(
        w.open(&token, NOW).unwrap_err(),
        EnvelopeError::WrongAudience
    );
    let mut both = command();
    both.aud = Audience::Many(vec!["https://other.test".into(), SERVER.into()]);
    let token = w.seal(&both);
    assert!(w.open(&token, NOW).is_ok());
    let mut other_iss = command();
    other_iss.iss = "bank".into();
    let token = w.seal(&other_iss);
    assert_eq!(w.open(&token, NOW).unwrap_err(), EnvelopeError::WrongIssuer);
    // Not sealed: the bare JWS.
    let signed = envelope::sign_command(&command(), &w.provider).unwrap();
    assert_eq!(w.open(&signed, NOW).unwrap_err(), EnvelopeError::NotSealed);
    // Signed by a key the server does not know.
    let stranger = PrivateKey::generate(&mut w.rng);
    let token = envelope::seal_command(
        &command(),
        &stranger,
        &w.server_enc.public_key(),
        &mut w.rng,
    )
    .unwrap();
    assert_eq!(w.open(&token, NOW).unwrap_err(), EnvelopeError::UnknownKey);
    // Sealed to a key the server does not hold.
    let token = envelope::seal_command(&command(), &w.provider, &stranger.public_key(), &mut w.rng)
        .unwrap();
    assert_eq!(w.open(&token, NOW).unwrap_err(), EnvelopeError::UnknownKey);
}

#[test]
fn a_result_presented_as_a_command_and_the_reverse() {
    let mut w = world();
    // A result-typed token signed by the provider, sealed to the server.
    let claims = serde_json::to_value(command()).unwrap();
    let provider = PrivateKey::from_jwk(&w.provider.to_jwk()).unwrap();
    let header = command_header(&w, envelope::RESULT_TYP);
    let token = forge(&mut w, header, &claims, &provider);
    assert_eq!(w.open(&token, NOW).unwrap_err(), EnvelopeError::WrongType);
    let header = HeaderParams {
        typ: None,
        ..command_header(&w, "")
    };
    let token = forge(&mut w, header, &claims, &provider);
    assert_eq!(w.open(&token, NOW).unwrap_err(), EnvelopeError::MissingType);
    let header = command_header(&w, "JWT");
    let token = forge(&mut w, header, &claims, &provider);
    assert_eq!(w.open(&token, NOW).unwrap_err(), EnvelopeError::WrongType);
    // A command signed by the server's key and presented as a result.
    let as_result = envelope::sign_command(&command(), &w.server_sig).unwrap();
    assert_eq!(
        w.verify(&as_result, None, NOW).unwrap_err(),
        EnvelopeError::WrongType
    );
}

#[test]
fn refusals_of_the_result_path() {
    let w = world();
    let signed = envelope::sign_result(&result(), &w.server_sig).unwrap();
    assert_eq!(
        w.verify(&signed, Some("cmd-2"), NOW).unwrap_err(),
        EnvelopeError::CommandMismatch
    );
    assert_eq!(
        w.verify(&signed, None, NOW - 61).unwrap_err(),
        EnvelopeError::IssuedInFuture
    );
    assert_eq!(
        w.verify(&signed, None, NOW + 661).unwrap_err(),
        EnvelopeError::Expired
    );
    let mut other = result();
    other.iss = "https://evil.test".into();
    let token = envelope::sign_result(&other, &w.server_sig).unwrap();
    assert_eq!(
        w.verify(&token, None, NOW).unwrap_err(),
        EnvelopeError::WrongIssuer
    );
    let mut other = result();
    other.aud = Audience::from("bank");
    let token = envelope::sign_result(&other, &w.server_sig).unwrap();
    assert_eq!(
        w.verify(&token, None, NOW).unwrap_err(),
        EnvelopeError::WrongAudience
    );
    // Signed by a key not in the server's JWKS.
    let mut r = rng(99);
    let stranger = PrivateKey::generate(&mut r);
    let token = envelope::sign_result(&result(), &stranger).unwrap();
    assert_eq!(
        w.verify(&token, None, NOW).unwrap_err(),
        EnvelopeError::UnknownKey
    );
    // Sealed, but the provider gave no key to open it.
    let sealed = envelope::seal_result(
        &result(),
        &w.server_sig,
        &w.provider_enc.public_key(),
        &mut r,
    )
    .unwrap();
    let jwks = w.jwks();
    let policy = ResultPolicy {
        server_keys: &jwks,
        issuer: SERVER,
        audience: PROVIDER,
        command: None,
        provider_key: None,
        now: NOW,
        leeway: 60,
        max_age: None,
    };
    assert_eq!(
        envelope::verify_result(&sealed, &policy).unwrap_err(),
        EnvelopeError::SealedNeedsKey
    );
}

#[test]
fn every_single_character_change_is_refused() {
    let mut w = world();
    let sealed = w.seal(&command());
    let signed = envelope::sign_result(&result(), &w.server_sig).unwrap();
    for (token, is_command) in [(sealed, true), (signed, false)] {
        let bytes = token.as_bytes();
        for i in (0..bytes.len()).step_by(7) {
            if bytes[i] == b'.' {
                continue;
            }
            let mut changed = bytes.to_vec();
            changed[i] = if changed[i] == b'A' { b'Q' } else { b'A' };
            let changed = String::from_utf8(changed).unwrap();
            let outcome = if is_command {
                w.open(&changed, NOW).map(|_| ())
            } else {
                w.verify(&changed, None, NOW).map(|_| ())
            };
            assert!(outcome.is_err(), "change at {i} accepted");
        }
    }
}

#[test]
fn claims_schema_is_enforced() {
    let mut w = world();
    let provider = PrivateKey::from_jwk(&w.provider.to_jwk()).unwrap();
    let header = command_header(&w, envelope::COMMAND_TYP);
    let base = serde_json::to_value(command()).unwrap();
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("unknown op", serde_json::json!([{"op": "format"}])),
        (
            "extra member",
            serde_json::json!([{"op": "get", "record": "a", "x": 1}]),
        ),
        (
            "bad name",
            serde_json::json!([{"op": "get", "record": "a/b"}]),
        ),
        (
            "long name",
            serde_json::json!([{"op": "get", "record": "a".repeat(33)}]),
        ),
        (
            "zero amount",
            serde_json::json!([{"op": "add", "counter": "p", "amount": 0}]),
        ),
        (
            "huge amount",
            serde_json::json!([{"op": "add", "counter": "p", "amount": 4294967296u64}]),
        ),
        (
            "negative amount",
            serde_json::json!([{"op": "sub", "counter": "p", "amount": -1}]),
        ),
        (
            "padded data",
            serde_json::json!([{"op": "put", "record": "r", "data": "AA=="}]),
        ),
        (
            "big data",
            serde_json::json!([{"op": "put", "record": "r", "data": b64::encode(&[0; 4097])}]),
        ),
        (
            "short aid",
            serde_json::json!([{"op": "apdu", "aid": "A000", "capdu": "00A40400"}]),
        ),
        (
            "bad capdu",
            serde_json::json!([{"op": "apdu", "aid": "A000000062", "capdu": "00A404000501"}]),
        ),
        ("no ops", serde_json::json!([])),
    ];
    for (name, ops) in cases {
        let mut claims = base.clone();
        claims["ops"] = ops;
        let token = forge(&mut w, header.clone(), &claims, &provider);
        assert!(
            matches!(w.open(&token, NOW), Err(EnvelopeError::InvalidClaims(_))),
            "{name}: {:?}",
            w.open(&token, NOW)
        );
    }
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("exp");
    let token = forge(&mut w, header.clone(), &missing, &provider);
    assert!(matches!(
        w.open(&token, NOW),
        Err(EnvelopeError::InvalidClaims(_))
    ));
}

#[test]
fn duplicate_claims_and_non_utf8_payloads_are_refused() {
    let mut w = world();
    let header = command_header(&w, envelope::COMMAND_TYP);
    let text = serde_json::to_string(&command()).unwrap();
    let duplicated = text.replacen("{", "{\"jti\":\"other\",", 1);
    let non_utf8 = [text.as_bytes(), &[0xFF]].concat();
    for (payload, expected) in [
        (
            duplicated.into_bytes(),
            EnvelopeError::Jose(JoseError::DuplicateMember),
        ),
        (non_utf8, EnvelopeError::Jose(JoseError::InvalidUtf8)),
    ] {
        let signed = jws::sign(&header, &payload, &w.provider).unwrap();
        let seal = HeaderParams {
            typ: None,
            kid: Some(w.server_enc.public_key().thumbprint()),
            cty: Some("JWT".into()),
        };
        let token = jwe::encrypt(
            signed.as_bytes(),
            &w.server_enc.public_key(),
            jwe::KeyManagement::EcdhEsA256Kw,
            &seal,
            &mut w.rng,
        )
        .unwrap();
        let got = w.open(&token, NOW).unwrap_err();
        assert_eq!(got.code(), expected.code());
    }
}

#[test]
fn wrong_content_type_is_refused() {
    let mut w = world();
    let signed = envelope::sign_command(&command(), &w.provider).unwrap();
    let seal = HeaderParams {
        typ: None,
        kid: Some(w.server_enc.public_key().thumbprint()),
        cty: None,
    };
    let token = jwe::encrypt(
        signed.as_bytes(),
        &w.server_enc.public_key(),
        jwe::KeyManagement::EcdhEsA256Kw,
        &seal,
        &mut w.rng,
    )
    .unwrap();
    assert_eq!(
        w.open(&token, NOW).unwrap_err(),
        EnvelopeError::WrongContentType
    );
}

#[test]
fn builders_refuse_invalid_claims() {
    let w = world();
    let mut claims = command();
    claims.ops.clear();
    assert!(matches!(
        envelope::sign_command(&claims, &w.provider),
        Err(EnvelopeError::InvalidClaims(_))
    ));
    let mut claims = command();
    claims.exp = claims.iat;
    assert!(matches!(
        envelope::sign_command(&claims, &w.provider),
        Err(EnvelopeError::InvalidClaims(_))
    ));
}

#[test]
fn error_codes_are_stable_and_distinct() {
    let errors = [
        EnvelopeError::NotSealed,
        EnvelopeError::SealedNeedsKey,
        EnvelopeError::WrongContentType,
        EnvelopeError::MissingType,
        EnvelopeError::WrongType,
        EnvelopeError::MissingKeyId,
        EnvelopeError::UnknownKey,
        EnvelopeError::WrongIssuer,
        EnvelopeError::WrongAudience,
        EnvelopeError::Expired,
        EnvelopeError::IssuedInFuture,
        EnvelopeError::NotYetValid,
        EnvelopeError::LifetimeTooLong,
        EnvelopeError::CommandMismatch,
        EnvelopeError::InvalidClaims("x"),
    ];
    let codes: std::collections::BTreeSet<_> = errors.iter().map(EnvelopeError::code).collect();
    assert_eq!(codes.len(), errors.len());
    assert_eq!(EnvelopeError::WrongType.code(), "wrong_typ");
}
