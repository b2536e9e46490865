//! Negative corpus for `kazashi_protocol::jose`: every malformed or hostile input is refused
//! with its specific error, and nothing panics.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kazashi_protocol::jose::jwe::{self, KeyManagement};
use kazashi_protocol::jose::{HeaderParams, JoseError, MAX_TOKEN_LEN, PublicKey, b64, jws};

/// RFC 7515 A.3's payload, for tokens whose header is what is under test.
const PAYLOAD: &[u8] = br#"{"iss":"joe"}"#;

fn jws_err(header: &str) -> JoseError {
    jws::verify(&forge_jws(header.as_bytes(), PAYLOAD), &a3_public()).unwrap_err()
}

// --- JWS headers -----------------------------------------------------------------------------

#[test]
fn jws_algorithms_off_the_allow_list() {
    for alg in [
        "none", "None", "NONE", "HS256", "HS512", "RS256", "PS256", "ES384", "ES512", "EdDSA",
        "es256", "ES256 ", "",
    ] {
        let header = format!(r#"{{"alg":"{alg}"}}"#);
        assert_eq!(jws_err(&header), JoseError::UnsupportedAlgorithm, "{alg}");
    }
    // `alg: none` with an empty signature, the classic form.
    let token = format!(
        "{}.{}.",
        b64::encode(br#"{"alg":"none"}"#),
        b64::encode(PAYLOAD)
    );
    assert_eq!(
        jws::verify(&token, &a3_public()).unwrap_err(),
        JoseError::UnsupportedAlgorithm
    );
}

#[test]
fn jws_missing_or_mistyped_alg() {
    assert_eq!(jws_err(r#"{}"#), JoseError::MissingHeader("alg"));
    assert_eq!(jws_err(r#"{"typ":"JWT"}"#), JoseError::MissingHeader("alg"));
    assert_eq!(jws_err(r#"{"alg":null}"#), JoseError::InvalidHeader("alg"));
    assert_eq!(
        jws_err(r#"{"alg":["ES256"]}"#),
        JoseError::InvalidHeader("alg")
    );
    assert_eq!(
        jws_err(r#"{"alg":"ES256","typ":1}"#),
        JoseError::InvalidHeader("typ")
    );
    assert_eq!(
        jws_err(r#"{"alg":"ES256","kid":{}}"#),
        JoseError::InvalidHeader("kid")
    );
    assert_eq!(
        jws_err(r#"{"alg":"ES256","cty":false}"#),
        JoseError::InvalidHeader("cty")
    );
}

#[test]
fn jws_crit_zip_b64() {
    assert_eq!(
        jws_err(r#"{"alg":"ES256","crit":["exp"],"exp":1}"#),
        JoseError::UnknownCritical
    );
    assert_eq!(
        jws_err(r#"{"alg":"ES256","crit":["b64"],"b64":false}"#),
        JoseError::UnknownCritical
    );
    // RFC 7515 §4.1.11: an empty list, or non-strings, are malformed.
    assert_eq!(
        jws_err(r#"{"alg":"ES256","crit":[]}"#),
        JoseError::InvalidHeader("crit")
    );
    assert_eq!(
        jws_err(r#"{"alg":"ES256","crit":"exp"}"#),
        JoseError::InvalidHeader("crit")
    );
    assert_eq!(
        jws_err(r#"{"alg":"ES256","zip":"DEF"}"#),
        JoseError::ZipNotSupported
    );
    assert_eq!(
        jws_err(r#"{"alg":"ES256","b64":false}"#),
        JoseError::UnencodedPayload
    );
    assert_eq!(
        jws_err(r#"{"alg":"ES256","b64":"false"}"#),
        JoseError::InvalidHeader("b64")
    );
    // b64: true is the default and harmless.
    assert!(
        jws::verify(
            &forge_jws(br#"{"alg":"ES256","b64":true}"#, PAYLOAD),
            &a3_public()
        )
        .is_ok()
    );
}

#[test]
fn jws_header_json() {
    assert_eq!(
        jws_err(r#"{"alg":"ES256","alg":"ES256"}"#),
        JoseError::DuplicateMember
    );
    assert_eq!(
        jws_err(r#"{"alg":"none","alg":"ES256"}"#),
        JoseError::DuplicateMember
    );
    assert_eq!(
        jws_err(r#"{"alg":"ES256","x":{"a":1,"a":2}}"#),
        JoseError::DuplicateMember
    );
    assert_eq!(jws_err(r#"["alg","ES256"]"#), JoseError::NotAnObject);
    assert_eq!(jws_err(r#""ES256""#), JoseError::NotAnObject);
    assert_eq!(jws_err(r#"{"alg":"ES256""#), JoseError::InvalidJson);
    assert_eq!(jws_err(""), JoseError::InvalidJson);
    let token = forge_jws(b"{\"alg\":\"ES256\",\"typ\":\"\xc3\x28\"}", PAYLOAD);
    assert_eq!(
        jws::verify(&token, &a3_public()).unwrap_err(),
        JoseError::InvalidUtf8
    );
    let token = forge_jws(b"\xef\xbb\xbf{\"alg\":\"ES256\"}", PAYLOAD);
    assert_eq!(
        jws::verify(&token, &a3_public()).unwrap_err(),
        JoseError::InvalidJson,
        "a byte-order mark is not JSON"
    );
}

// --- JWS structure and signature -------------------------------------------------------------

#[test]
fn jws_wrong_number_of_parts() {
    let good = forge_jws(br#"{"alg":"ES256"}"#, PAYLOAD);
    let parts: Vec<&str> = good.split('.').collect();
    for token in [
        String::new(),
        ".".into(),
        parts[0].into(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{good}."),
        format!("{good}.{}", parts[2]),
        format!("{good}.."),
    ] {
        assert_eq!(
            jws::decode(&token).unwrap_err(),
            JoseError::InvalidCompact,
            "{token:?}"
        );
    }
    // A JWE is not a JWS.
    let jwe = jwe::encrypt(
        b"x",
        &a3_public(),
        KeyManagement::EcdhEs,
        &HeaderParams::new(),
        &mut TestRng::new(b"n"),
    )
    .unwrap();
    assert_eq!(jws::decode(&jwe).unwrap_err(), JoseError::InvalidCompact);
}

#[test]
fn jws_signature_lengths() {
    let good = forge_jws(br#"{"alg":"ES256"}"#, PAYLOAD);
    let sig = b64::decode(good.rsplit('.').next().unwrap()).unwrap();
    for bad in [
        &sig[..63],
        &[&sig[..], &[0u8]].concat()[..],
        &[][..],
        &sig[..32],
    ] {
        let token = replace_part(&good, 2, &b64::encode(bad));
        assert_eq!(
            jws::verify(&token, &a3_public()).unwrap_err(),
            JoseError::InvalidSignatureLength,
            "{} bytes",
            bad.len()
        );
    }
    // The same signature as DER (what OpenSSL and Java emit natively).
    let der = p256::ecdsa::Signature::from_slice(&sig).unwrap().to_der();
    let token = replace_part(&good, 2, &b64::encode(der.as_bytes()));
    assert_eq!(
        jws::verify(&token, &a3_public()).unwrap_err(),
        JoseError::InvalidSignatureLength
    );
    // 64 bytes but r = 0, s = 0, or r ≥ n.
    for bad in [[0u8; 64], [0xff; 64]] {
        let token = replace_part(&good, 2, &b64::encode(&bad));
        assert_eq!(
            jws::verify(&token, &a3_public()).unwrap_err(),
            JoseError::InvalidSignature
        );
    }
}

#[test]
fn jws_base64_strictness() {
    let good = forge_jws(br#"{"alg":"ES256"}"#, PAYLOAD);
    let parts: Vec<String> = good.split('.').map(String::from).collect();
    for (index, part) in parts.iter().enumerate() {
        // Padding.
        let padded = match part.len() % 4 {
            2 => format!("{part}=="),
            3 => format!("{part}="),
            _ => format!("{part}===="),
        };
        assert_eq!(
            jws::verify(&replace_part(&good, index, &padded), &a3_public()).unwrap_err(),
            JoseError::InvalidBase64,
            "padding in part {index}"
        );
        // Standard-alphabet characters and whitespace.
        for bad in [
            format!("+{}", &part[1..]),
            format!("/{}", &part[1..]),
            format!("{part} "),
        ] {
            assert_eq!(
                jws::verify(&replace_part(&good, index, &bad), &a3_public()).unwrap_err(),
                JoseError::InvalidBase64
            );
        }
    }
    // Non-canonical encodings: same bytes, a trailing bit set. The 16-byte header
    // `{"alg":"ES256" }` is 22 characters with 4 trailing bits; the 64-byte signature is 86
    // characters with 4 trailing bits.
    let spaced = forge_jws(br#"{"alg":"ES256" }"#, PAYLOAD);
    assert!(jws::verify(&spaced, &a3_public()).is_ok());
    for index in [0, 2] {
        let part = spaced.split('.').nth(index).unwrap();
        let token = replace_part(&spaced, index, &set_trailing_bit(part));
        assert_eq!(
            jws::verify(&token, &a3_public()).unwrap_err(),
            JoseError::InvalidBase64,
            "part {index}"
        );
    }
}

const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Sets the lowest bit of the last character, which for a length of 2 or 3 mod 4 is a
/// trailing bit that canonical base64url leaves zero.
fn set_trailing_bit(part: &str) -> String {
    assert!(part.len() % 4 >= 2);
    let last = part.chars().last().unwrap();
    let value = ALPHABET.find(last).unwrap();
    assert_eq!(value & 1, 0, "already canonical");
    let replaced = ALPHABET.as_bytes()[value | 1] as char;
    format!("{}{replaced}", &part[..part.len() - 1])
}

#[test]
fn token_size_limit() {
    let key = a3();
    // The largest payload that fits signs and verifies; one byte more is refused both ways.
    let header_len = b64::encode(br#"{"alg":"ES256"}"#).len();
    let room = MAX_TOKEN_LEN - header_len - 2 - 86;
    let max_payload = room / 4 * 3 + [0, 0, 1, 2][room % 4];
    let payload = vec![b'a'; max_payload];
    let token = jws::sign(&HeaderParams::new(), &payload, &key).unwrap();
    assert!(token.len() <= MAX_TOKEN_LEN);
    assert!(jws::verify(&token, &key.public_key()).is_ok());
    let payload = vec![b'a'; max_payload + 1];
    assert_eq!(
        jws::sign(&HeaderParams::new(), &payload, &key).unwrap_err(),
        JoseError::TokenTooLarge
    );
    let huge = "a".repeat(MAX_TOKEN_LEN + 1);
    assert_eq!(jws::decode(&huge).unwrap_err(), JoseError::TokenTooLarge);
    assert_eq!(jwe::decode(&huge).unwrap_err(), JoseError::TokenTooLarge);
    let payload = vec![0u8; MAX_TOKEN_LEN];
    assert_eq!(
        jwe::encrypt(
            &payload,
            &key.public_key(),
            KeyManagement::EcdhEs,
            &HeaderParams::new(),
            &mut TestRng::new(b"big")
        )
        .unwrap_err(),
        JoseError::TokenTooLarge
    );
}

// --- JWE -------------------------------------------------------------------------------------

/// A sealed token to Bob, deterministic.
fn sealed(alg: KeyManagement) -> String {
    jwe::encrypt(
        b"negative corpus",
        &bob().public_key(),
        alg,
        &HeaderParams::new(),
        &mut TestRng::new(b"negative"),
    )
    .unwrap()
}

/// `sealed` with its protected header replaced (its epk kept if `header` contains "EPK").
fn with_header(alg: KeyManagement, header: &str) -> String {
    let token = sealed(alg);
    let original = b64::decode(token.split('.').next().unwrap()).unwrap();
    let original = core::str::from_utf8(&original).unwrap();
    let epk_start = original.find(r#""epk":"#).unwrap() + 6;
    let epk_end = original[epk_start..].find('}').unwrap() + epk_start + 1;
    let header = header.replace("EPK", &original[epk_start..epk_end]);
    replace_part(&token, 0, &b64::encode(header.as_bytes()))
}

fn jwe_err(alg: KeyManagement, header: &str) -> JoseError {
    jwe::decrypt(&with_header(alg, header), &bob()).unwrap_err()
}

const KW: KeyManagement = KeyManagement::EcdhEsA256Kw;
const DIRECT: KeyManagement = KeyManagement::EcdhEs;

#[test]
fn jwe_header_sanity() {
    // The helper itself: an unchanged header decrypts.
    let ok = with_header(KW, r#"{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":EPK}"#);
    assert_eq!(
        jwe::decrypt(&ok, &bob()).unwrap().plaintext,
        b"negative corpus"
    );
}

#[test]
fn jwe_algorithms() {
    for alg in [
        "none",
        "dir",
        "RSA-OAEP",
        "RSA1_5",
        "A256KW",
        "ECDH-ES+A128KW",
        "ECDH-ES+A192KW",
        "ECDH-1PU",
        "ecdh-es",
    ] {
        let h = format!(r#"{{"alg":"{alg}","enc":"A256GCM","epk":EPK}}"#);
        assert_eq!(jwe_err(KW, &h), JoseError::UnsupportedAlgorithm, "{alg}");
    }
    for enc in [
        "A128GCM",
        "A192GCM",
        "A256CBC-HS512",
        "A128CBC-HS256",
        "a256gcm",
    ] {
        let h = format!(r#"{{"alg":"ECDH-ES+A256KW","enc":"{enc}","epk":EPK}}"#);
        assert_eq!(jwe_err(KW, &h), JoseError::UnsupportedEncryption, "{enc}");
    }
    assert_eq!(
        jwe_err(KW, r#"{"enc":"A256GCM","epk":EPK}"#),
        JoseError::MissingHeader("alg")
    );
    assert_eq!(
        jwe_err(KW, r#"{"alg":"ECDH-ES+A256KW","epk":EPK}"#),
        JoseError::MissingHeader("enc")
    );
    assert_eq!(
        jwe_err(KW, r#"{"alg":"ECDH-ES+A256KW","enc":"A256GCM"}"#),
        JoseError::MissingHeader("epk")
    );
    assert_eq!(
        jwe_err(
            KW,
            r#"{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":EPK,"apu":"QQ=="}"#
        ),
        JoseError::InvalidHeader("apu")
    );
    assert_eq!(
        jwe_err(
            KW,
            r#"{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":EPK,"apv":7}"#
        ),
        JoseError::InvalidHeader("apv")
    );
}

#[test]
fn jwe_zip_crit_duplicates() {
    assert_eq!(
        jwe_err(
            KW,
            r#"{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":EPK,"zip":"DEF"}"#
        ),
        JoseError::ZipNotSupported
    );
    assert_eq!(
        jwe_err(
            KW,
            r#"{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":EPK,"crit":["x"],"x":1}"#
        ),
        JoseError::UnknownCritical
    );
    assert_eq!(
        jwe_err(
            KW,
            r#"{"alg":"ECDH-ES+A256KW","enc":"A256GCM","enc":"A256GCM","epk":EPK}"#
        ),
        JoseError::DuplicateMember
    );
    assert_eq!(
        jwe_err(
            KW,
            r#"{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{"kty":"EC","kty":"EC"}}"#
        ),
        JoseError::DuplicateMember
    );
    assert_eq!(jwe_err(KW, r#"[1]"#), JoseError::NotAnObject);
    let token = replace_part(&sealed(KW), 0, &b64::encode(b"{\"alg\":\"\xff\"}"));
    assert_eq!(
        jwe::decrypt(&token, &bob()).unwrap_err(),
        JoseError::InvalidUtf8
    );
}

#[test]
fn jwe_invalid_epk() {
    let h = |epk: &str| format!(r#"{{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{epk}}}"#);
    let zero = b64::encode(&[0u8; 32]);
    let x = "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0"; // RFC 7518 C, Alice's ephemeral key
    let y = "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps";
    let mut off_curve_y = b64::decode(y).unwrap();
    off_curve_y[31] ^= 1;
    let off_curve_y = b64::encode(&off_curve_y);
    // The field prime p as a coordinate (not reduced: out of range).
    let prime = b64::encode(
        &hex::decode("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff").unwrap(),
    );
    for epk in [
        // The identity has no affine coordinates; (0, 0) is the usual stand-in, off the curve.
        format!(r#"{{"kty":"EC","crv":"P-256","x":"{zero}","y":"{zero}"}}"#),
        // Off the curve (invalid-curve attack).
        format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{off_curve_y}"}}"#),
        format!(r#"{{"kty":"EC","crv":"P-256","x":"{prime}","y":"{y}"}}"#),
        // Wrong coordinate lengths: 31 and 33 bytes, leading zero stripped or added.
        format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{y}"}}"#,
            b64::encode(&[1u8; 31])
        ),
        format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{y}"}}"#,
            b64::encode(&[&[0u8][..], &b64::decode(x).unwrap()].concat())
        ),
        format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{}"}}"#,
            b64::encode(&[1u8; 33])
        ),
        // Wrong kty / crv, missing members, non-strict base64.
        format!(r#"{{"kty":"OKP","crv":"P-256","x":"{x}","y":"{y}"}}"#),
        format!(r#"{{"kty":"EC","crv":"P-384","x":"{x}","y":"{y}"}}"#),
        format!(r#"{{"kty":"EC","crv":"secp256k1","x":"{x}","y":"{y}"}}"#),
        format!(r#"{{"kty":"EC","x":"{x}","y":"{y}"}}"#),
        format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}"}}"#),
        format!(r#"{{"crv":"P-256","x":"{x}","y":"{y}"}}"#),
        format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}=","y":"{y}"}}"#),
        format!(r#"{{"kty":"EC","crv":"P-256","x":7,"y":"{y}"}}"#),
        // A private key where a public one belongs.
        format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}","d":"0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo"}}"#
        ),
        // Not an object.
        r#""EC""#.into(),
        "null".into(),
        "[]".into(),
    ] {
        assert_eq!(jwe_err(KW, &h(&epk)), JoseError::InvalidEpk, "{epk}");
    }
    // The valid point itself is accepted by the header checks (decryption then fails).
    let valid = format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}"}}"#);
    assert_eq!(jwe_err(KW, &h(&valid)), JoseError::DecryptionFailed);
}

#[test]
fn jwe_part_lengths() {
    let kw = sealed(KW);
    let direct = sealed(DIRECT);
    // Encrypted key: empty for direct, 40 bytes for key wrap.
    for (token, key) in [
        (&direct, b64::encode(&[0u8; 40])),
        (&direct, b64::encode(&[0u8; 1])),
        (&kw, String::new()),
        (&kw, b64::encode(&[0u8; 32])),
        (&kw, b64::encode(&[0u8; 48])),
    ] {
        assert_eq!(
            jwe::decrypt(&replace_part(token, 1, &key), &bob()).unwrap_err(),
            JoseError::InvalidEncryptedKey
        );
    }
    for token in [&kw, &direct] {
        for iv in [0, 11, 13, 16] {
            assert_eq!(
                jwe::decrypt(
                    &replace_part(token, 2, &b64::encode(&vec![0u8; iv])),
                    &bob()
                )
                .unwrap_err(),
                JoseError::InvalidIv,
                "iv {iv}"
            );
        }
        for tag in [0, 12, 15, 17] {
            assert_eq!(
                jwe::decrypt(
                    &replace_part(token, 4, &b64::encode(&vec![0u8; tag])),
                    &bob()
                )
                .unwrap_err(),
                JoseError::InvalidTag,
                "tag {tag}"
            );
        }
        // Empty ciphertext where there was one: authentication fails.
        assert_eq!(
            jwe::decrypt(&replace_part(token, 3, ""), &bob()).unwrap_err(),
            JoseError::DecryptionFailed
        );
    }
}

#[test]
fn jwe_structure_and_base64() {
    let kw = sealed(KW);
    let parts: Vec<&str> = kw.split('.').collect();
    for token in [
        parts[..4].join("."),
        format!("{kw}."),
        parts[..3].join("."),
        String::new(),
        "......".into(),
    ] {
        assert_eq!(
            jwe::decrypt(&token, &bob()).unwrap_err(),
            JoseError::InvalidCompact,
            "{token:?}"
        );
    }
    // A JWS is not a JWE.
    let jws = forge_jws(br#"{"alg":"ES256"}"#, PAYLOAD);
    assert_eq!(
        jwe::decrypt(&jws, &bob()).unwrap_err(),
        JoseError::InvalidCompact
    );
    for (index, &part) in parts.iter().enumerate() {
        let bad = if part.is_empty() {
            "=".to_string()
        } else {
            format!("{part}=")
        };
        assert_eq!(
            jwe::decrypt(&replace_part(&kw, index, &bad), &bob()).unwrap_err(),
            JoseError::InvalidBase64,
            "part {index}"
        );
        if part.len() % 4 >= 2 {
            // Non-canonical: the encrypted key (40 bytes) and the tag (16 bytes).
            assert_eq!(
                jwe::decrypt(&replace_part(&kw, index, &set_trailing_bit(part)), &bob())
                    .unwrap_err(),
                JoseError::InvalidBase64,
                "non-canonical part {index}"
            );
        }
        let bad = format!("{part}*");
        assert_eq!(
            jwe::decrypt(&replace_part(&kw, index, &bad), &bob()).unwrap_err(),
            JoseError::InvalidBase64,
            "part {index}"
        );
    }
}

#[test]
fn public_key_jwk_validation() {
    use kazashi_protocol::jose::Jwk;
    let ok = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
    assert!(PublicKey::from_jwk(&Jwk::from_json(ok.as_bytes()).unwrap()).is_ok());
    for bad in [
        ok.replace("\"EC\"", "\"RSA\""),
        ok.replace("P-256", "P-521"),
        ok.replace("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "AAAA"),
        ok.replace(
            "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1",
        ),
        ok.replace(
            "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a3",
        ),
    ] {
        let jwk = Jwk::from_json(bad.as_bytes()).unwrap();
        assert_eq!(
            PublicKey::from_jwk(&jwk).unwrap_err(),
            JoseError::InvalidKey,
            "{bad}"
        );
    }
    assert_eq!(
        Jwk::from_json(br#"{"kty":"EC","kty":"EC"}"#).unwrap_err(),
        JoseError::DuplicateMember
    );
    assert_eq!(
        Jwk::from_json(br#"{"crv":"P-256"}"#).unwrap_err(),
        JoseError::InvalidKey
    );
    assert_eq!(
        Jwk::from_json(br#"{"kty":1}"#).unwrap_err(),
        JoseError::InvalidKey
    );
}

#[test]
fn error_codes_are_stable_snake_case() {
    let all = [
        (JoseError::TokenTooLarge, "token_too_large"),
        (JoseError::InvalidCompact, "invalid_compact"),
        (JoseError::InvalidBase64, "invalid_base64"),
        (JoseError::InvalidUtf8, "invalid_utf8"),
        (JoseError::InvalidJson, "invalid_json"),
        (JoseError::NotAnObject, "not_an_object"),
        (JoseError::DuplicateMember, "duplicate_member"),
        (JoseError::MissingHeader("alg"), "missing_header"),
        (JoseError::InvalidHeader("alg"), "invalid_header"),
        (JoseError::UnsupportedAlgorithm, "unsupported_algorithm"),
        (JoseError::UnsupportedEncryption, "unsupported_encryption"),
        (JoseError::ZipNotSupported, "zip_not_supported"),
        (JoseError::UnknownCritical, "unknown_critical"),
        (JoseError::UnencodedPayload, "unencoded_payload"),
        (
            JoseError::InvalidSignatureLength,
            "invalid_signature_length",
        ),
        (JoseError::InvalidSignature, "invalid_signature"),
        (JoseError::InvalidKey, "invalid_key"),
        (JoseError::KeyMismatch, "key_mismatch"),
        (JoseError::InvalidEpk, "invalid_epk"),
        (JoseError::InvalidEncryptedKey, "invalid_encrypted_key"),
        (JoseError::InvalidIv, "invalid_iv"),
        (JoseError::InvalidTag, "invalid_tag"),
        (JoseError::DecryptionFailed, "decryption_failed"),
    ];
    for (error, code) in all {
        assert_eq!(error.code(), code);
        assert!(!error.to_string().is_empty());
    }
    assert_eq!(
        JoseError::MissingHeader("epk").to_string(),
        "missing header parameter \"epk\""
    );
}

#[test]
fn garbage_never_panics() {
    // A cheap deterministic fuzz: mutate valid tokens byte by byte and feed every prefix.
    let mut inputs = vec![
        forge_jws(br#"{"alg":"ES256","kid":"k"}"#, PAYLOAD),
        sealed(KW),
        sealed(DIRECT),
    ];
    let mut rng = TestRng::new(b"garbage");
    use rand_core::RngCore;
    for i in 0..600 {
        let mut bytes = inputs[i % 3].clone().into_bytes();
        let at = rng.next_u32() as usize % bytes.len();
        bytes[at] = b"AZaz09-_.=+/ \x00"[rng.next_u32() as usize % 14];
        if let Ok(s) = String::from_utf8(bytes) {
            inputs.push(s);
        }
    }
    let key = bob();
    for input in &inputs {
        for end in [input.len(), input.len() / 2, 1] {
            let s = &input[..end];
            let _ = jws::verify(s, &key.public_key());
            let _ = jwe::decrypt(s, &key);
        }
    }
}
