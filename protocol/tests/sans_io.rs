//! The sans-IO halves of the JOSE and envelope operations (what the npm package drives with
//! WebCrypto): composed with this crate's own primitives they give exactly what the
//! all-in-one functions give, and every refusal keeps its code.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kazashi_protocol::envelope::{
    self, CommandClaims, CommandPolicy, EnvelopeError, ResultChecks, ResultClaims, ResultPolicy,
};
use kazashi_protocol::jose::jwe::{self, AgreedKey, KeyManagement};
use kazashi_protocol::jose::jws;
use kazashi_protocol::jose::{
    HeaderParams, JoseError, Jwk, JwkSet, MAX_TOKEN_LEN, PrivateKey, PublicKey,
    UncheckedPrivateKey, b64,
};

const SERVER: &str = "https://server.test";
const PROVIDER: &str = "city-hall";
const NOW: u64 = 1_800_000_000;

/// The order of P-256, big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

fn jwk(json: &str) -> Jwk {
    Jwk::from_json(json.as_bytes()).unwrap()
}

fn command() -> CommandClaims {
    CommandClaims::from_json(
        format!(
            r#"{{"iss":"{PROVIDER}","aud":"{SERVER}","jti":"cmd-1","iat":{NOW},"exp":{},
            "ops":[{{"op":"put","record":"r","data":"WWFtYWRh"}},{{"op":"add","counter":"p","amount":10}}]}}"#,
            NOW + 300
        )
        .as_bytes(),
    )
    .unwrap()
}

fn result() -> ResultClaims {
    serde_json::from_str(&format!(
        r#"{{"iss":"{SERVER}","aud":"{PROVIDER}","jti":"txn-1","cmd":"cmd-1","iat":{NOW},
        "chip":"chip-1","status":"ok","results":[{{"status":"ok","value":7}}]}}"#
    ))
    .unwrap()
}

// --- JWS ---------------------------------------------------------------------------------------

#[test]
fn jws_signing_input_then_finish_is_sign() {
    let key = a3();
    let header = HeaderParams::new()
        .with_typ("t")
        .with_kid(key.public_key().thumbprint());
    let input = jws::signing_input(&header, b"payload").unwrap();
    let signature = key.sign_es256(input.as_bytes());
    assert_eq!(
        input.clone().finish(&signature).unwrap(),
        jws::sign(&header, b"payload", &key).unwrap()
    );
    // A DER or truncated signature is not an ES256 signature.
    for len in [0, 63, 65, 72] {
        assert_eq!(
            input.clone().finish(&vec![1; len]).unwrap_err(),
            JoseError::InvalidSignatureLength
        );
    }
    // The size check comes before any signing.
    let huge = vec![b'a'; MAX_TOKEN_LEN];
    assert_eq!(
        jws::signing_input(&header, &huge).unwrap_err(),
        JoseError::TokenTooLarge
    );
}

#[test]
fn jws_decode_then_finish_is_verify() {
    let key = a3();
    let token = jws::sign(&HeaderParams::new(), b"hello", &key).unwrap();
    let unverified = jws::decode(&token).unwrap();
    let (input, signature) = token.rsplit_once('.').unwrap();
    assert_eq!(unverified.signing_input(), input.as_bytes());
    assert_eq!(
        unverified.signature().as_slice(),
        b64::decode(signature).unwrap()
    );
    let valid = key
        .public_key()
        .verify_es256(unverified.signing_input(), unverified.signature());
    assert!(valid);
    let verified = unverified.clone().finish(valid).unwrap();
    assert_eq!(verified.payload(), b"hello");
    assert_eq!(
        verified.payload(),
        jws::verify(&token, &key.public_key()).unwrap().payload()
    );
    // An outcome of `false` is the same refusal as a bad signature here.
    assert_eq!(
        unverified.finish(false).unwrap_err(),
        JoseError::InvalidSignature
    );
    assert!(!bob().public_key().verify_es256(
        input.as_bytes(),
        &b64::decode_array(signature).unwrap().unwrap()
    ));
}

#[test]
fn jws_decode_checks_signature_ranges_without_a_key() {
    let token = forge_jws(br#"{"alg":"ES256"}"#, b"x");
    let sig = b64::decode(token.rsplit_once('.').unwrap().1).unwrap();
    let with = |r: [u8; 32], s: &[u8]| {
        let mut bytes = r.to_vec();
        bytes.extend_from_slice(s);
        replace_part(&token, 2, &b64::encode(&bytes))
    };
    let mut n_minus_1 = N;
    n_minus_1[31] -= 1;
    // r = 0, r = n, s = n, r = 2^256 - 1: refused at decoding.
    for bad in [
        with([0; 32], &sig[32..]),
        with(N, &sig[32..]),
        with(sig[..32].try_into().unwrap(), &N),
        with([0xff; 32], &sig[32..]),
    ] {
        assert_eq!(jws::decode(&bad).unwrap_err(), JoseError::InvalidSignature);
    }
    // r = n - 1 is in range: it decodes, and fails only when verified.
    let edge = jws::decode(&with(n_minus_1, &sig[32..])).unwrap();
    assert_eq!(
        edge.verify(&a3_public()).unwrap_err(),
        JoseError::InvalidSignature
    );
}

// --- JWE ---------------------------------------------------------------------------------------

#[test]
fn jwe_encryption_steps_are_encrypt() {
    let recipient = bob().public_key();
    let params = HeaderParams::new().with_cty("JWT").with_kid("k");
    for alg in [KeyManagement::EcdhEsA256Kw, KeyManagement::EcdhEs] {
        // The same draws as jwe::encrypt: the ephemeral key, then the CEK (wrapping only),
        // then the IV.
        let mut rng = TestRng::new(b"sans-io");
        let ephemeral = PrivateKey::generate(&mut rng);
        let prepared =
            jwe::prepare_encryption(7, alg, &params, &ephemeral.public_key(), &[], &[]).unwrap();
        let agreed = prepared.agree(&ephemeral.shared_secret(&recipient));
        assert_eq!(
            matches!(agreed, AgreedKey::KeyEncryptionKey(_)),
            alg == KeyManagement::EcdhEsA256Kw
        );
        let content = jwe::encrypt_content(&agreed, prepared.aad(), b"payload", &mut rng).unwrap();
        let token = prepared
            .clone()
            .finish(
                &content.encrypted_key,
                &content.iv,
                &content.ciphertext,
                &content.tag,
            )
            .unwrap();
        let expected = jwe::encrypt(
            b"payload",
            &recipient,
            alg,
            &params,
            &mut TestRng::new(b"sans-io"),
        )
        .unwrap();
        assert_eq!(token, expected);
        assert_eq!(jwe::decrypt(&token, &bob()).unwrap().plaintext, b"payload");

        // An encrypted key of the wrong length for `alg`.
        let wrong = if content.encrypted_key.is_empty() {
            vec![0; 40]
        } else {
            Vec::new()
        };
        assert_eq!(
            prepared
                .clone()
                .finish(&wrong, &content.iv, &content.ciphertext, &content.tag)
                .unwrap_err(),
            JoseError::InvalidEncryptedKey
        );
        // A ciphertext that would make the token too large.
        assert_eq!(
            prepared
                .finish(
                    &content.encrypted_key,
                    &content.iv,
                    &vec![0; MAX_TOKEN_LEN],
                    &content.tag
                )
                .unwrap_err(),
            JoseError::TokenTooLarge
        );
    }
    assert_eq!(
        jwe::prepare_encryption(
            MAX_TOKEN_LEN,
            KeyManagement::EcdhEs,
            &params,
            &recipient,
            &[],
            &[]
        )
        .unwrap_err(),
        JoseError::TokenTooLarge
    );
}

#[test]
fn jwe_decryption_steps_are_decrypt() {
    let bob = bob();
    for alg in [KeyManagement::EcdhEsA256Kw, KeyManagement::EcdhEs] {
        let token = jwe::encrypt_with_party_info(
            b"sealed",
            &bob.public_key(),
            alg,
            &HeaderParams::new(),
            b"Alice",
            b"Bob",
            &mut TestRng::new(b"decrypt steps"),
        )
        .unwrap();
        let sealed = jwe::decode(&token).unwrap();
        let agreed = sealed.agree(&bob.shared_secret(&sealed.header().epk));
        let plaintext = jwe::decrypt_content(
            &agreed,
            sealed.encrypted_key(),
            sealed.iv(),
            sealed.aad(),
            sealed.ciphertext(),
            sealed.tag(),
        );
        assert_eq!(
            sealed.clone().finish(plaintext).unwrap().plaintext,
            jwe::decrypt(&token, &bob).unwrap().plaintext
        );
        // The aad is the protected header as received.
        assert_eq!(sealed.aad(), token.split('.').next().unwrap().as_bytes());
        // Another party's secret derives another key, which opens nothing.
        let wrong = sealed.agree(&a3().shared_secret(&sealed.header().epk));
        assert_eq!(
            jwe::decrypt_content(
                &wrong,
                sealed.encrypted_key(),
                sealed.iv(),
                sealed.aad(),
                sealed.ciphertext(),
                sealed.tag(),
            ),
            None
        );
        // A failed unwrap or tag check, and a plaintext of the wrong length, are refused.
        assert_eq!(
            sealed.clone().finish(None).unwrap_err(),
            JoseError::DecryptionFailed
        );
        assert_eq!(
            sealed.finish(Some(b"sealed!".to_vec())).unwrap_err(),
            JoseError::DecryptionFailed
        );
    }
}

// --- Keys --------------------------------------------------------------------------------------

#[test]
fn unchecked_private_keys() {
    let a3_jwk = jwk(A3_JWK);
    let unchecked = UncheckedPrivateKey::from_jwk(&a3_jwk).unwrap();
    assert_eq!(*unchecked.public_key(), a3_public());
    assert_eq!(unchecked.confirm(true), Ok(()));
    assert_eq!(unchecked.confirm(false), Err(JoseError::KeyMismatch));
    assert_eq!(unchecked.check().unwrap().public_key(), a3_public());
    // The normalized JWK: kty, crv, x, y, d only.
    let normalized = unchecked.to_jwk();
    assert_eq!(
        normalized.to_json(),
        format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}","d":"{}"}}"#,
            a3_jwk.x.as_deref().unwrap(),
            a3_jwk.y.as_deref().unwrap(),
            a3_jwk.d.as_ref().unwrap().expose()
        )
    );
    assert!(!format!("{unchecked:?}").contains(a3_jwk.d.as_ref().unwrap().expose()));

    // Bob's d with A3's x and y: valid members, but not a pair.
    let mut mismatched = a3_jwk.clone();
    mismatched.d = jwk(BOB_JWK).d;
    let unchecked = UncheckedPrivateKey::from_jwk(&mismatched).unwrap();
    assert_eq!(unchecked.check().unwrap_err(), JoseError::KeyMismatch);
    assert_eq!(
        PrivateKey::from_jwk(&mismatched).unwrap_err(),
        JoseError::KeyMismatch
    );

    // d out of range or absent, and bad public members, are refused before any check.
    let mut n_minus_1 = N;
    n_minus_1[31] -= 1;
    assert!(
        UncheckedPrivateKey::from_jwk(&Jwk {
            d: jwk(&format!(
                r#"{{"kty":"EC","d":"{}"}}"#,
                b64::encode(&n_minus_1)
            ))
            .d,
            ..a3_jwk.clone()
        })
        .is_ok()
    );
    for d in [[0u8; 32], N, [0xff; 32]] {
        let bad = Jwk {
            d: jwk(&format!(r#"{{"kty":"EC","d":"{}"}}"#, b64::encode(&d))).d,
            ..a3_jwk.clone()
        };
        assert_eq!(
            UncheckedPrivateKey::from_jwk(&bad).unwrap_err(),
            JoseError::InvalidKey
        );
    }
    assert_eq!(
        UncheckedPrivateKey::from_jwk(&a3_jwk.to_public()).unwrap_err(),
        JoseError::InvalidKey
    );
    let mut off_curve = a3_jwk;
    off_curve.y = Some(b64::encode(&[1; 32]));
    assert_eq!(
        UncheckedPrivateKey::from_jwk(&off_curve).unwrap_err(),
        JoseError::InvalidKey
    );
}

#[test]
fn ecdh_and_es256_primitives() {
    let (a, b) = (a3(), bob());
    assert_eq!(
        *a.shared_secret(&b.public_key()),
        *b.shared_secret(&a.public_key())
    );
    let signature = a.sign_es256(b"m");
    assert!(a.public_key().verify_es256(b"m", &signature));
    assert!(!a.public_key().verify_es256(b"n", &signature));
    assert!(!b.public_key().verify_es256(b"m", &signature));
    assert!(!a.public_key().verify_es256(b"m", &[0; 64]));
}

// --- Envelopes ---------------------------------------------------------------------------------

#[test]
fn command_steps_and_the_server_opens_them() {
    let provider = a3();
    let server = bob();
    let input = envelope::command_signing_input(&command(), &provider.public_key()).unwrap();
    let signature = provider.sign_es256(input.as_bytes());
    let signed = input.finish(&signature).unwrap();
    assert_eq!(
        signed,
        envelope::sign_command(&command(), &provider).unwrap()
    );

    // Sealed step by step, with an ephemeral key of ours.
    let ephemeral = PrivateKey::generate(&mut TestRng::new(b"seal"));
    let prepared =
        envelope::prepare_seal(&signed, &server.public_key(), &ephemeral.public_key()).unwrap();
    let agreed = prepared.agree(&ephemeral.shared_secret(&server.public_key()));
    let content = jwe::encrypt_content(
        &agreed,
        prepared.aad(),
        signed.as_bytes(),
        &mut TestRng::new(b"cek"),
    )
    .unwrap();
    let sealed = prepared
        .finish(
            &content.encrypted_key,
            &content.iv,
            &content.ciphertext,
            &content.tag,
        )
        .unwrap();
    assert!(envelope::is_sealed(&sealed));
    assert!(!envelope::is_sealed(&signed));

    let kid = provider.public_key().thumbprint();
    let opened = envelope::open_command(
        &sealed,
        |k| (k == server.public_key().thumbprint()).then_some(&server),
        |k| {
            (k == kid).then(|| envelope::ProviderKey {
                provider: PROVIDER.into(),
                key: provider.public_key(),
            })
        },
        &CommandPolicy::new(SERVER, NOW),
    )
    .unwrap();
    assert_eq!(opened.signed, signed);
    assert_eq!(opened.claims, command());

    // The server's halves, by hand: the same claims.
    let (unverified, found) = envelope::command_to_verify(&signed).unwrap();
    assert_eq!(found, kid);
    let verified = unverified.verify(&provider.public_key()).unwrap();
    let policy = CommandPolicy::new(SERVER, NOW);
    assert_eq!(
        envelope::check_command(&verified, PROVIDER, &policy).unwrap(),
        command()
    );
    assert_eq!(
        envelope::check_command(&verified, "bank", &policy).unwrap_err(),
        EnvelopeError::WrongIssuer
    );
    assert_eq!(
        envelope::check_command(&verified, PROVIDER, &CommandPolicy::new(SERVER, NOW + 400))
            .unwrap_err(),
        EnvelopeError::Expired
    );

    // Invalid claims are refused before anything is signed.
    let mut no_ops = command();
    no_ops.ops.clear();
    assert!(matches!(
        envelope::command_signing_input(&no_ops, &provider.public_key()).unwrap_err(),
        EnvelopeError::InvalidClaims(_)
    ));
    assert!(matches!(
        CommandClaims::from_json(b"[1]").unwrap_err(),
        EnvelopeError::InvalidClaims(_)
    ));
    assert!(matches!(
        CommandClaims::from_json(br#"{"iss":"a","iss":"b"}"#).unwrap_err(),
        EnvelopeError::InvalidClaims(_)
    ));
}

#[test]
fn result_steps_match_verify_result() {
    let server = a3();
    let provider = bob();
    let keys = JwkSet {
        keys: vec![server.public_key().to_jwk()],
    };
    let signed = envelope::sign_result(&result(), &server).unwrap();
    let input = envelope::result_signing_input(&result(), &server.public_key()).unwrap();
    let signature = server.sign_es256(input.as_bytes());
    assert_eq!(input.finish(&signature).unwrap(), signed);
    let sealed = envelope::seal_result(
        &result(),
        &server,
        &provider.public_key(),
        &mut TestRng::new(b"r"),
    )
    .unwrap();

    // Open the seal step by step.
    let seal = envelope::open_seal(&sealed).unwrap();
    assert_eq!(seal.kid, provider.public_key().thumbprint());
    let decrypted = seal.jwe.decrypt(&provider).unwrap();
    let inner = envelope::unsealed(decrypted).unwrap();
    assert_eq!(inner, signed);

    let (unverified, key) = envelope::result_to_verify(&inner, &keys).unwrap();
    assert_eq!(key, server.public_key());
    let valid = key.verify_es256(unverified.signing_input(), unverified.signature());
    let verified = unverified.finish(valid).unwrap();
    let checks = ResultChecks {
        issuer: SERVER,
        audience: PROVIDER,
        command: Some("cmd-1"),
        now: NOW,
        leeway: 60,
        max_age: Some(600),
    };
    let claims = envelope::check_result(&verified, &checks).unwrap();
    let policy = ResultPolicy {
        server_keys: &keys,
        issuer: SERVER,
        audience: PROVIDER,
        command: Some("cmd-1"),
        provider_key: Some(&provider),
        now: NOW,
        leeway: 60,
        max_age: Some(600),
    };
    assert_eq!(
        claims,
        envelope::verify_result(&sealed, &policy).unwrap().claims
    );
    assert_eq!(ResultChecks::from(&policy).command, Some("cmd-1"));

    // Each check keeps its code.
    for (checks, code) in [
        (
            ResultChecks {
                issuer: "other",
                ..checks
            },
            EnvelopeError::WrongIssuer,
        ),
        (
            ResultChecks {
                audience: "bank",
                ..checks
            },
            EnvelopeError::WrongAudience,
        ),
        (
            ResultChecks {
                command: Some("cmd-2"),
                ..checks
            },
            EnvelopeError::CommandMismatch,
        ),
        (
            ResultChecks {
                now: NOW - 61,
                ..checks
            },
            EnvelopeError::IssuedInFuture,
        ),
        (
            ResultChecks {
                now: NOW + 661,
                ..checks
            },
            EnvelopeError::Expired,
        ),
    ] {
        assert_eq!(
            envelope::check_result(&verified, &checks).unwrap_err(),
            code
        );
    }

    // The header steps refuse what verify_result refuses.
    assert_eq!(
        envelope::result_to_verify(&signed, &JwkSet::default()).unwrap_err(),
        EnvelopeError::UnknownKey
    );
    let command = envelope::sign_command(&command(), &server).unwrap();
    assert_eq!(
        envelope::result_to_verify(&command, &keys).unwrap_err(),
        EnvelopeError::WrongType
    );
    let no_kid = jwe::encrypt(
        signed.as_bytes(),
        &provider.public_key(),
        KeyManagement::EcdhEsA256Kw,
        &HeaderParams::new().with_cty("JWT"),
        &mut TestRng::new(b"no kid"),
    )
    .unwrap();
    assert_eq!(
        envelope::open_seal(&no_kid).unwrap_err(),
        EnvelopeError::MissingKeyId
    );
    let not_jwt = jwe::encrypt(
        signed.as_bytes(),
        &provider.public_key(),
        KeyManagement::EcdhEsA256Kw,
        &HeaderParams::new().with_kid("k"),
        &mut TestRng::new(b"no cty"),
    )
    .unwrap();
    let seal = envelope::open_seal(&not_jwt).unwrap();
    assert_eq!(
        envelope::unsealed(seal.jwe.decrypt(&provider).unwrap()).unwrap_err(),
        EnvelopeError::WrongContentType
    );
    assert_eq!(
        envelope::open_seal("a.b.c.d").unwrap_err(),
        EnvelopeError::Jose(JoseError::InvalidCompact)
    );
    // Not a JWK of this profile: the key named by kid is refused as a key.
    let bad_keys = JwkSet {
        keys: vec![Jwk {
            kty: "EC".into(),
            kid: Some(server.public_key().thumbprint()),
            ..Jwk::default()
        }],
    };
    assert_eq!(
        envelope::result_to_verify(&signed, &bad_keys).unwrap_err(),
        EnvelopeError::Jose(JoseError::InvalidKey)
    );
    let _: PublicKey = key;
}
