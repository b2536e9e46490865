//! Shared helpers for the JOSE integration tests.
#![allow(dead_code, unreachable_pub)]

use kazashi_protocol::jose::{Jwk, PrivateKey, PublicKey, b64};
use p256::ecdsa::signature::Signer;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

/// RFC 7515 Appendix A.3: the ES256 example key (public part and `d`).
pub const A3_JWK: &str = r#"{"kty":"EC","crv":"P-256",
    "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;

/// RFC 7518 Appendix C: Bob's static key.
pub const BOB_JWK: &str = r#"{"kty":"EC","crv":"P-256",
    "x":"weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ",
    "y":"e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck",
    "d":"VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw"}"#;

pub fn private(json: &str) -> PrivateKey {
    PrivateKey::from_jwk(&Jwk::from_json(json.as_bytes()).unwrap()).unwrap()
}

pub fn a3() -> PrivateKey {
    private(A3_JWK)
}

pub fn bob() -> PrivateKey {
    private(BOB_JWK)
}

pub fn a3_public() -> PublicKey {
    a3().public_key()
}

/// A deterministic "CSPRNG" for known-answer tests: SHA-256(seed ‖ counter) blocks.
/// Not random at all; for tests only.
pub struct TestRng {
    seed: [u8; 32],
    counter: u64,
    buf: [u8; 32],
    used: usize,
}

impl TestRng {
    pub fn new(seed: &[u8]) -> Self {
        Self {
            seed: Sha256::digest(seed).into(),
            counter: 0,
            buf: [0; 32],
            used: 32,
        }
    }
}

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            if self.used == 32 {
                let mut h = Sha256::new();
                h.update(self.seed);
                h.update(self.counter.to_be_bytes());
                self.buf = h.finalize().into();
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.buf[self.used];
            self.used += 1;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for TestRng {}

/// A compact JWS over an arbitrary protected header, signed with the A.3 key, so that header
/// checks are exercised on tokens whose signature is valid.
pub fn forge_jws(header_json: &[u8], payload: &[u8]) -> String {
    let key = p256::ecdsa::SigningKey::from_slice(
        &b64::decode("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI").unwrap(),
    )
    .unwrap();
    let input = format!("{}.{}", b64::encode(header_json), b64::encode(payload));
    let sig: p256::ecdsa::Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64::encode(&sig.to_bytes()))
}

/// Replaces part `index` of a compact token.
pub fn replace_part(token: &str, index: usize, new: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = new;
    parts.join(".")
}

/// Flips the low bit of byte `at` of part `index`'s decoded bytes, re-encoding canonically.
pub fn flip_byte(token: &str, index: usize, at: usize) -> String {
    let part = token.split('.').nth(index).unwrap();
    let mut bytes = b64::decode(part).unwrap();
    bytes[at] ^= 0x01;
    replace_part(token, index, &b64::encode(&bytes))
}
