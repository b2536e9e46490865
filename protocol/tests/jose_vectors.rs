//! Known-answer and interoperability vectors for `kazashi_protocol::jose`.
//!
//! Every verify/decrypt vector has "modified" twins with one byte flipped that must fail.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kazashi_protocol::jose::jwe::{self, ContentEncryption, KeyManagement};
use kazashi_protocol::jose::jws::{self, SignatureAlgorithm};
use kazashi_protocol::jose::{HeaderParams, JoseError, Jwk, JwkSet, PrivateKey, PublicKey, b64};

fn public(json: &str) -> PublicKey {
    PublicKey::from_jwk(&Jwk::from_json(json.as_bytes()).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// RFC 7515 Appendix A.3: ES256.

/// RFC 7515 §A.3.1, the JWS Compact Serialization (line breaks removed).
const RFC7515_A3_TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/// RFC 7515 §A.3.1, the JWS Payload.
const RFC7515_A3_PAYLOAD: &[u8] =
    b"{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";

#[test]
fn rfc7515_a3_verifies() {
    let verified = jws::verify(RFC7515_A3_TOKEN, &a3_public()).unwrap();
    assert_eq!(verified.payload(), RFC7515_A3_PAYLOAD);
    assert_eq!(verified.header().alg, SignatureAlgorithm::Es256);
    assert_eq!(verified.header().typ, None);
    assert_eq!(verified.header().raw.len(), 1);
}

#[test]
fn rfc7515_a3_has_a_high_s_signature() {
    // S = the second 32 bytes; the group order's upper half starts above 0x7FFFFFFF80...
    let sig = b64::decode(RFC7515_A3_TOKEN.rsplit('.').next().unwrap()).unwrap();
    assert!(
        sig[32] >= 0x80,
        "A.3's S is high; verification above must accept it"
    );
}

#[test]
fn rfc7515_a3_modified() {
    let key = a3_public();
    // Payload bytes: never parsed by the JWS layer, so only the signature can catch them.
    for at in [0, 10, RFC7515_A3_PAYLOAD.len() - 1] {
        let token = flip_byte(RFC7515_A3_TOKEN, 1, at);
        assert_eq!(
            jws::verify(&token, &key).unwrap_err(),
            JoseError::InvalidSignature
        );
    }
    // Signature bytes, in R and in S.
    for at in [0, 31, 32, 63] {
        let token = flip_byte(RFC7515_A3_TOKEN, 2, at);
        assert_eq!(
            jws::verify(&token, &key).unwrap_err(),
            JoseError::InvalidSignature
        );
    }
    // Header bytes: `{"alg":"ES256"}`; whatever breaks, it must not verify.
    for at in 0..15 {
        let token = flip_byte(RFC7515_A3_TOKEN, 0, at);
        assert!(jws::verify(&token, &key).is_err(), "header byte {at}");
    }
    // A semantically equal header with other bytes ({"alg":"ES256" } ) breaks the signature.
    let token = replace_part(RFC7515_A3_TOKEN, 0, &b64::encode(br#"{"alg":"ES256" }"#));
    assert_eq!(
        jws::verify(&token, &key).unwrap_err(),
        JoseError::InvalidSignature
    );
    // Another key.
    assert_eq!(
        jws::verify(RFC7515_A3_TOKEN, &bob().public_key()).unwrap_err(),
        JoseError::InvalidSignature
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 9449 (DPoP) Figure 2: an ES256 JWS with its key in the header (which we never use: the
// key is passed separately), and Figure 9's thumbprint ("jkt") of that key.

const RFC9449_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";
const RFC9449_JWK: &str = r#"{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}"#;

#[test]
fn rfc9449_figure2_verifies_and_figure9_thumbprint() {
    let key = public(RFC9449_JWK);
    assert_eq!(
        key.thumbprint(),
        "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    );
    let verified = jws::verify(RFC9449_PROOF, &key).unwrap();
    assert_eq!(verified.header().typ.as_deref(), Some("dpop+jwt"));
    assert!(verified.header().raw.contains_key("jwk"));
    // Modified.
    let token = flip_byte(RFC9449_PROOF, 1, 5);
    assert_eq!(
        jws::verify(&token, &key).unwrap_err(),
        JoseError::InvalidSignature
    );
    let token = flip_byte(RFC9449_PROOF, 2, 40);
    assert_eq!(
        jws::verify(&token, &key).unwrap_err(),
        JoseError::InvalidSignature
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 7638 thumbprints of P-256 keys. RFC 7638 §3.1's own example is RSA; these values were
// cross-checked with `jose` (npm) 6.2.18 `calculateJwkThumbprint(jwk, "sha256")`
// (protocol/tests/jose_interop/generate.mjs).

#[test]
fn thumbprints_match_jose() {
    assert_eq!(
        a3_public().thumbprint(),
        "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"
    );
    assert_eq!(
        bob().public_key().thumbprint(),
        "Vy57XrArUrW0NbpI12tEzDHABxMwrTh6HHXRenSpnCo"
    );
    // kid defaults to the thumbprint.
    assert_eq!(
        a3_public().to_jwk().kid.as_deref(),
        Some("oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U")
    );
}

// ---------------------------------------------------------------------------------------------
// Fixed vectors generated by `jose` (npm) v6.2.18 with protocol/tests/jose_interop/generate.mjs
// (A.3 key for signing, RFC 7518 Appendix C Bob's key for encryption).

const JOSE_JWS: &str = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImthemFzaGktY29tbWFuZCtqd3QiLCJraWQiOiJvS0l5d3ZHVXBUVlR5eE1RM2J3SUllUVV1ZGZyX0NrTE1qQ0UxOUVDRC1VIn0.eyJpc3MiOiJwcm92aWRlci0xIiwianRpIjoiam9zZS0xIn0.hFIEOly0HFR9C98aCFbULeg4Pa4XngJtD-p-2j6sLEe6VtM35ewLnipOTPdsHt_RJMU4YmX8lC2DjY0_PReKzA";
const JOSE_JWE_KW: &str = "eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00iLCJjdHkiOiJKV1QiLCJraWQiOiJWeTU3WHJBclVyVzBOYnBJMTJ0RXpESEFCeE13clRoNkhIWFJlblNwbkNvIiwiZXBrIjp7IngiOiJWQjF2ZjFXQ1c5a08yVkQyc3dVQWYyX19kYXhIWFpCeWhnbXN2WVlIS3N3IiwiY3J2IjoiUC0yNTYiLCJrdHkiOiJFQyIsInkiOiJKV25FWlpub1hrbDdlYnA5aGJVVTJ3OEUwZUUxbW43azJPRl9TRVJtZWs4In19.uvzl9T76lu1JSvi3Rhb9HOBpo7MgWscixZh20Oc13RBojKO3C-iBYg.CxNHBR74nd-SXE0v.ekkAuLcxWs68V2gxtlY.WeAoa3UyK6V72vFQMaQS8g";
const JOSE_JWE_DIRECT: &str = "eyJhbGciOiJFQ0RILUVTIiwiZW5jIjoiQTI1NkdDTSIsImVwayI6eyJ4IjoiNHFCVHdzWndNeXFEbjhvb3dMR19PbHJRdjNvU1E0d1lPbk5IaGxtVnRBYyIsImNydiI6IlAtMjU2Iiwia3R5IjoiRUMiLCJ5Ijoic3d2NUZWVVlQUWpWYXRyRTdGWng2aHM4V0lvbVVyN0VfWVZjZXF1OHNndyJ9fQ..AUyLVunvw0GOFk8W.qWnM2BUSmh47aGQPW20.KbE-6qLicj8A8K7nWNWnfw";
const JOSE_JWE_KW_APU: &str = "eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00iLCJlcGsiOnsieCI6ImdXelVRSlRRVHJ2Y2dTazNKdVQ5cGFNMl9FREVoN05UaFA5R0ZPOEtBRGMiLCJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieSI6Im1ZT0dObk9BRkVRVXUySHp1M21tRWZSM3NPZHV0c0d5WU5ONEZQQU9PY3cifSwiYXB1IjoiUVd4cFkyVSIsImFwdiI6IlFtOWkifQ.SrExZDVXlGz_vxAV5ntiSS7wE8wwXmiW2hEnr5nu4sxv4SOOaaL2mQ.pmJcLxCJ70tILq9B.u5V5gIDOjk5svLpPoXo.mvADP56S7ds86Bv4OHGRbQ";

#[test]
fn jose_jws_verifies() {
    let unverified = jws::decode(JOSE_JWS).unwrap();
    assert_eq!(
        unverified.header().typ.as_deref(),
        Some("kazashi-command+jwt")
    );
    assert_eq!(
        unverified.header().kid.as_deref(),
        Some("oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U")
    );
    let verified = unverified.verify(&a3_public()).unwrap();
    assert_eq!(
        verified.payload(),
        br#"{"iss":"provider-1","jti":"jose-1"}"#
    );
}

#[test]
fn jose_jws_modified() {
    let key = a3_public();
    for (part, at) in [(1, 0), (1, 20), (2, 0), (2, 33), (2, 63)] {
        let token = flip_byte(JOSE_JWS, part, at);
        assert_eq!(
            jws::verify(&token, &key).unwrap_err(),
            JoseError::InvalidSignature,
            "part {part} byte {at}"
        );
    }
    // Header: flip a byte inside the kid value, keeping the JSON valid.
    let token = flip_byte(JOSE_JWS, 0, 60);
    assert_eq!(
        jws::verify(&token, &key).unwrap_err(),
        JoseError::InvalidSignature
    );
}

fn assert_jose_jwe(token: &str, alg: KeyManagement, apu: Option<&[u8]>) {
    let decrypted = jwe::decrypt(token, &bob()).unwrap();
    assert_eq!(decrypted.plaintext, b"sealed by jose");
    assert_eq!(decrypted.header.alg, alg);
    assert_eq!(decrypted.header.enc, ContentEncryption::A256Gcm);
    assert_eq!(decrypted.header.apu.as_deref(), apu);
}

/// One-byte modifications of every part of a JWE: each must fail, never panic.
fn assert_jwe_modified(token: &str, key: &PrivateKey) {
    let parts: Vec<&str> = token.split('.').collect();
    // Protected header: the AAD; a flip either breaks the header or the tag.
    for at in [0, 5, 20, 40, b64::decode(parts[0]).unwrap().len() - 2] {
        let t = flip_byte(token, 0, at);
        assert!(jwe::decrypt(&t, key).is_err(), "header byte {at}");
    }
    // Encrypted key (key-wrap only): AES-KW integrity check.
    if !parts[1].is_empty() {
        for at in [0, 20, 39] {
            let t = flip_byte(token, 1, at);
            assert_eq!(
                jwe::decrypt(&t, key).unwrap_err(),
                JoseError::DecryptionFailed
            );
        }
    }
    for (part, at) in [(2, 0), (2, 11), (3, 0), (4, 0), (4, 15)] {
        let t = flip_byte(token, part, at);
        assert_eq!(
            jwe::decrypt(&t, key).unwrap_err(),
            JoseError::DecryptionFailed,
            "part {part} byte {at}"
        );
    }
    // Wrong recipient key.
    assert_eq!(
        jwe::decrypt(token, &a3()).unwrap_err(),
        JoseError::DecryptionFailed
    );
}

#[test]
fn jose_jwe_decrypts() {
    assert_jose_jwe(JOSE_JWE_KW, KeyManagement::EcdhEsA256Kw, None);
    assert_jose_jwe(JOSE_JWE_DIRECT, KeyManagement::EcdhEs, None);
    assert_jose_jwe(JOSE_JWE_KW_APU, KeyManagement::EcdhEsA256Kw, Some(b"Alice"));
    let h = jwe::decode(JOSE_JWE_KW).unwrap();
    assert_eq!(h.header().cty.as_deref(), Some("JWT"));
    assert_eq!(h.header().kid, Some(bob().public_key().thumbprint()));
}

#[test]
fn jose_jwe_modified() {
    for token in [JOSE_JWE_KW, JOSE_JWE_DIRECT, JOSE_JWE_KW_APU] {
        assert_jwe_modified(token, &bob());
    }
}

// ---------------------------------------------------------------------------------------------
// Known-answer tests of our own. Each of these tokens was checked with `jose` (npm) 6.2.18
// `compactVerify` / `compactDecrypt` (protocol/tests/jose_interop/generate.mjs).

/// `jws::sign` with the RFC 7515 A.3 key; deterministic (RFC 6979).
const KAT_JWS: &str = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImthemFzaGktcmVzdWx0K2p3dCIsImtpZCI6Im9LSXl3dkdVcFRWVHl4TVEzYndJSWVRVXVkZnJfQ2tMTWpDRTE5RUNELVUifQ.eyJpc3MiOiJzZXJ2ZXItMSIsImp0aSI6ImthemFzaGktMSJ9.EBK1jnO344cArGYfcaUyl7Ogi_TXaWAX_UekgYhVMGREprvd4wZ5xVuWZmioBWpLpqs8X9ZotYa0BqgLE_Aodg";

/// `jwe::encrypt` / `encrypt_with_party_info` to Bob's key with `TestRng::new(b"kazashi jwe
/// kat")`, in this order.
const KAT_JWE_KW: &str = "eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00iLCJlcGsiOnsia3R5IjoiRUMiLCJjcnYiOiJQLTI1NiIsIngiOiJUTVNsbEJ5RkZMaml2R1E4SHRaT1pEaXpsYlYtOC03RDR3c09pOVBLSzlNIiwieSI6ImxhWHUwODlPbDdGWnVyb3BmbW1rN3RXYWRvRTdHVERTOG9qbFE1UmdWdGsifSwiY3R5IjoiSldUIiwia2lkIjoiVnk1N1hyQXJVclcwTmJwSTEydEV6REhBQnhNd3JUaDZISFhSZW5TcG5DbyJ9.R1rk11GHvKoS_cHkZpZO5zXyrJ0-In4nq5SpPKgth4GcuVRTtvFj8A.P-DK8ADQWX4kIzvj.OTHzWUKrd5N61MvtfPqML2E.1PqrchYMoLCqiHIreq3UUg";
const KAT_JWE_DIRECT: &str = "eyJhbGciOiJFQ0RILUVTIiwiZW5jIjoiQTI1NkdDTSIsImVwayI6eyJrdHkiOiJFQyIsImNydiI6IlAtMjU2IiwieCI6ImpFX3RMcmsyVjFpRnVxTUtVb3dhSUlkQkxLOXRCUDJKVF9TdlpfVFNpc28iLCJ5IjoiTWhUZVNLWmpFQTYtaGpEc0l6T2hjeUhJNUw2aVlra3Q2N2g5TllYcXY4ayJ9fQ..EIdzOnkJco9knEv8.BSOxuiDgivzkExfZGqZBpa0.2mJ6Zo9bPaX7CHgrtemS6Q";
const KAT_JWE_KW_APU: &str = "eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00iLCJlcGsiOnsia3R5IjoiRUMiLCJjcnYiOiJQLTI1NiIsIngiOiJHbGxyc3drb0EtdFg4c3dpNlVlbmFQcUhFRTJxU3JaRDVENU8ydy03b2dBIiwieSI6InlTX2NMN0QwZm16UWtodVBmeTBFaUdoQUFBT2x0c3hxa3dRWkpkZ3ZjZDAifSwiYXB1IjoiUVd4cFkyVSIsImFwdiI6IlFtOWkifQ.XiHmeqibEbaTVKHZGmebsSQa8f9_hLbOmbETBHTNKsMhO40kqFDo1A.4Dyfr-i2hf6eSRVi.UTPOC6-hagi9N0VS3aR2kAI.PErbRYaR6KgLZcDKF2UKkA";
const KAT_JWE_DIRECT_APU: &str = "eyJhbGciOiJFQ0RILUVTIiwiZW5jIjoiQTI1NkdDTSIsImVwayI6eyJrdHkiOiJFQyIsImNydiI6IlAtMjU2IiwieCI6IlpzOHlma1Z6WXU1aDJLWDdWWExMV29weXUyc3IwUkxBcGt4QXQzNVUtR0EiLCJ5IjoiUHluVkE3Z2cyQ0oybFZ1dzl1RGYyMkF0SXY0MDNkV1U0VmtxUUwyR3dxTSJ9LCJhcHUiOiJRV3hwWTJVIiwiYXB2IjoiUW05aSJ9..t_r2jLGQFlhXo_3y.QuM4PKgN0-BZUBPrVWZXaD8.zRR4fBW9MRO2G6o6HKVhUw";

#[test]
fn kat_jws_sign() {
    let key = a3();
    let header = HeaderParams::new()
        .with_typ("kazashi-result+jwt")
        .with_kid(key.public_key().thumbprint());
    let payload = br#"{"iss":"server-1","jti":"kazashi-1"}"#;
    assert_eq!(jws::sign(&header, payload, &key).unwrap(), KAT_JWS);
    let verified = jws::verify(KAT_JWS, &key.public_key()).unwrap();
    assert_eq!(verified.payload(), payload);
    assert_eq!(verified.header().typ.as_deref(), Some("kazashi-result+jwt"));
    for (part, at) in [(1, 3), (2, 0), (2, 40)] {
        assert_eq!(
            jws::verify(&flip_byte(KAT_JWS, part, at), &key.public_key()).unwrap_err(),
            JoseError::InvalidSignature
        );
    }
}

#[test]
fn kat_jwe_encrypt() {
    let bob = bob();
    let to = bob.public_key();
    let mut rng = TestRng::new(b"kazashi jwe kat");
    let plaintext = b"sealed by kazashi";
    let kw = jwe::encrypt(
        plaintext,
        &to,
        KeyManagement::EcdhEsA256Kw,
        &HeaderParams::new()
            .with_cty("JWT")
            .with_kid(to.thumbprint()),
        &mut rng,
    )
    .unwrap();
    let direct = jwe::encrypt(
        plaintext,
        &to,
        KeyManagement::EcdhEs,
        &HeaderParams::new(),
        &mut rng,
    )
    .unwrap();
    let kw_apu = jwe::encrypt_with_party_info(
        plaintext,
        &to,
        KeyManagement::EcdhEsA256Kw,
        &HeaderParams::new(),
        b"Alice",
        b"Bob",
        &mut rng,
    )
    .unwrap();
    let direct_apu = jwe::encrypt_with_party_info(
        plaintext,
        &to,
        KeyManagement::EcdhEs,
        &HeaderParams::new(),
        b"Alice",
        b"Bob",
        &mut rng,
    )
    .unwrap();
    assert_eq!(kw, KAT_JWE_KW);
    assert_eq!(direct, KAT_JWE_DIRECT);
    assert_eq!(kw_apu, KAT_JWE_KW_APU);
    assert_eq!(direct_apu, KAT_JWE_DIRECT_APU);
    for token in [&kw, &direct, &kw_apu, &direct_apu] {
        let d = jwe::decrypt(token, &bob).unwrap();
        assert_eq!(d.plaintext, plaintext);
        assert_jwe_modified(token, &bob);
    }
    let d = jwe::decrypt(&direct_apu, &bob).unwrap();
    assert_eq!(d.header.apu.as_deref(), Some(&b"Alice"[..]));
    assert_eq!(d.header.apv.as_deref(), Some(&b"Bob"[..]));
}

// ---------------------------------------------------------------------------------------------
// Round trips and key handling.

#[test]
fn round_trips_with_fresh_keys() {
    let mut rng = rand_core::OsRng;
    for len in [0, 1, 2, 3, 1024, 70_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let signer = PrivateKey::generate(&mut rng);
        let token = jws::sign(&HeaderParams::new(), &payload, &signer).unwrap();
        assert_eq!(
            jws::verify(&token, &signer.public_key()).unwrap().payload(),
            &payload[..]
        );
        let recipient = PrivateKey::generate(&mut rng);
        for alg in [KeyManagement::EcdhEs, KeyManagement::EcdhEsA256Kw] {
            let token = jwe::encrypt(
                &payload,
                &recipient.public_key(),
                alg,
                &HeaderParams::new(),
                &mut rng,
            )
            .unwrap();
            assert_eq!(jwe::decrypt(&token, &recipient).unwrap().plaintext, payload);
        }
    }
}

#[test]
fn high_s_is_accepted() {
    // Replace our (RFC 6979) S by n − S: still a valid ECDSA signature, as WebCrypto may emit.
    let token = KAT_JWS;
    let sig = b64::decode(token.rsplit('.').next().unwrap()).unwrap();
    let parsed = p256::ecdsa::Signature::from_slice(&sig).unwrap();
    let (r, s) = parsed.split_scalars();
    let flipped = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
    let high = if parsed.normalize_s().is_some() {
        parsed
    } else {
        flipped
    };
    assert!(high.normalize_s().is_some(), "this one is high-S");
    let token = replace_part(token, 2, &b64::encode(&high.to_bytes()));
    assert!(jws::verify(&token, &a3_public()).is_ok());
}

#[test]
fn private_jwk_round_trip_and_redaction() {
    let key = a3();
    let jwk = key.to_jwk();
    assert_eq!(
        jwk.d.as_ref().unwrap().expose(),
        "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"
    );
    let again = PrivateKey::from_jwk(&Jwk::from_json(jwk.to_json().as_bytes()).unwrap()).unwrap();
    assert_eq!(again.public_key(), key.public_key());
    // Debug never shows d.
    let debug = format!("{jwk:?} {key:?}");
    assert!(!debug.contains("jpsQnn"), "{debug}");
    assert!(debug.contains("JwkSecret(..)"));
    // The public form drops d, and a public key refuses a JWK that has one.
    assert!(jwk.to_public().d.is_none());
    assert_eq!(
        PublicKey::from_jwk(&jwk).unwrap_err(),
        JoseError::InvalidKey
    );
    assert_eq!(
        PublicKey::from_jwk(&jwk.to_public()).unwrap(),
        key.public_key()
    );
}

#[test]
fn private_jwk_with_foreign_d_is_a_mismatch() {
    // A.3's x/y with Bob's d.
    let mut jwk = Jwk::from_json(A3_JWK.as_bytes()).unwrap();
    jwk.d = Jwk::from_json(BOB_JWK.as_bytes()).unwrap().d;
    assert_eq!(
        PrivateKey::from_jwk(&jwk).unwrap_err(),
        JoseError::KeyMismatch
    );
    // d of zero, and d ≥ n.
    for d in [
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "_____________________________________________w",
    ] {
        let text = A3_JWK.replace("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI", d);
        let jwk = Jwk::from_json(text.as_bytes()).unwrap();
        assert!(PrivateKey::from_jwk(&jwk).is_err(), "{d}");
    }
}

#[test]
fn sec1_round_trip() {
    let key = a3_public();
    let sec1 = key.to_sec1_bytes();
    assert_eq!(sec1[0], 0x04);
    assert_eq!(PublicKey::from_sec1_bytes(&sec1).unwrap(), key);
    assert_eq!(
        PublicKey::from_sec1_bytes(&[0x00]).unwrap_err(),
        JoseError::InvalidKey
    );
}

#[test]
fn jwks_lookup() {
    let signing = a3_public().to_jwk();
    let mut encryption = bob().public_key().to_jwk();
    encryption.kid = None;
    encryption.use_ = Some("enc".into());
    let mut named = a3_public().to_jwk();
    named.kid = Some("named".into());
    let set = JwkSet {
        keys: vec![signing, encryption, named],
    };
    let text = set.to_json();
    assert!(text.starts_with(r#"{"keys":[{"kty":"EC","crv":"P-256","#));
    let parsed = JwkSet::from_json(text.as_bytes()).unwrap();
    assert_eq!(parsed.keys.len(), 3);
    assert_eq!(
        parsed
            .public_key("oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U")
            .unwrap()
            .unwrap(),
        a3_public()
    );
    // No kid: found by thumbprint.
    assert_eq!(
        parsed
            .find(&bob().public_key().thumbprint())
            .unwrap()
            .use_
            .as_deref(),
        Some("enc")
    );
    assert_eq!(parsed.public_key("named").unwrap().unwrap(), a3_public());
    assert!(parsed.find("absent").is_none());
    // A set with a key of another type still parses; that key just does not validate.
    let mixed = JwkSet::from_json(
        br#"{"keys":[{"kty":"RSA","kid":"r","n":"0vx","e":"AQAB"},{"kty":"EC","crv":"P-256","kid":"e","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#,
    )
    .unwrap();
    assert_eq!(
        mixed.public_key("r").unwrap().unwrap_err(),
        JoseError::InvalidKey
    );
    assert_eq!(mixed.public_key("e").unwrap().unwrap(), a3_public());
    assert_eq!(
        JwkSet::from_json(br#"{"keys":[],"keys":[]}"#).unwrap_err(),
        JoseError::DuplicateMember
    );
}
