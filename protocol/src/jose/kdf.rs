//! The Concat KDF of NIST SP 800-56A §5.8.1 as profiled by RFC 7518 §4.6.2, with SHA-256.

use sha2::{Digest, Sha256};

/// Fills `out` with key material derived from the ECDH shared secret `z`.
///
/// OtherInfo is `AlgorithmID ‖ PartyUInfo ‖ PartyVInfo ‖ SuppPubInfo`, each of the first three
/// a 32-bit big-endian length followed by the bytes; SuppPubInfo is `keydatalen` in bits,
/// 32-bit big-endian (RFC 7518 §4.6.2). `AlgorithmID` is the `enc` value (`"A256GCM"`) for
/// direct key agreement and the full `alg` value (`"ECDH-ES+A256KW"`) for key agreement with
/// key wrapping (RFC 7518 §4.6.2, "AlgorithmID"); `jose` (npm) does the same.
///
/// Inputs are bounded by `MAX_TOKEN_LEN`, far below `u32::MAX`.
pub(crate) fn concat_kdf(z: &[u8], algorithm_id: &[u8], apu: &[u8], apv: &[u8], out: &mut [u8]) {
    let keydatalen_bits = (out.len() as u32).wrapping_mul(8);
    for (i, chunk) in out.chunks_mut(32).enumerate() {
        let counter = (i as u32).wrapping_add(1);
        let mut h = Sha256::new();
        h.update(counter.to_be_bytes());
        h.update(z);
        for field in [algorithm_id, apu, apv] {
            h.update((field.len() as u32).to_be_bytes());
            h.update(field);
        }
        h.update(keydatalen_bits.to_be_bytes());
        let mut block = h.finalize();
        chunk.copy_from_slice(&block[..chunk.len()]);
        zeroize::Zeroize::zeroize(block.as_mut_slice());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::b64;

    // RFC 7518 Appendix C: Z, the ECDH output of Alice's ephemeral key and Bob's key.
    const RFC7518_C_Z: [u8; 32] = [
        158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110,
        163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
    ];

    #[test]
    fn rfc7518_appendix_c_derived_key() {
        // RFC 7518 Appendix C: enc "A128GCM", apu "Alice", apv "Bob", keydatalen 128.
        let mut out = [0u8; 16];
        concat_kdf(&RFC7518_C_Z, b"A128GCM", b"Alice", b"Bob", &mut out);
        assert_eq!(
            out,
            [
                86, 170, 141, 234, 248, 35, 109, 32, 92, 34, 40, 205, 113, 167, 16, 26
            ]
        );
        assert_eq!(b64::encode(&out), "VqqN6vgjbSBcIijNcacQGg");

        // Modified: one flipped byte of Z gives another key.
        let mut z = RFC7518_C_Z;
        z[0] ^= 1;
        let mut other = [0u8; 16];
        concat_kdf(&z, b"A128GCM", b"Alice", b"Bob", &mut other);
        assert_ne!(other, out);
    }

    #[test]
    fn rfc7518_appendix_c_ecdh_z() {
        use crate::jose::jwk::{Jwk, PrivateKey, PublicKey};
        // RFC 7518 Appendix C: Bob's static key and Alice's ephemeral public key.
        let bob = PrivateKey::from_jwk(
            &Jwk::from_json(
                br#"{"kty":"EC","crv":"P-256",
                "x":"weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ",
                "y":"e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck",
                "d":"VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw"}"#,
            )
            .unwrap(),
        )
        .unwrap();
        let alice = PublicKey::from_jwk(
            &Jwk::from_json(
                br#"{"kty":"EC","crv":"P-256",
                "x":"gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0",
                "y":"SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"}"#,
            )
            .unwrap(),
        )
        .unwrap();
        let z = bob.shared_secret(&alice);
        assert_eq!(*z, RFC7518_C_Z);
    }

    #[test]
    fn multi_block_output() {
        // 48 bytes need two SHA-256 rounds; the first 32 differ from a 32-byte derivation
        // only through keydatalen.
        let mut long = [0u8; 48];
        concat_kdf(&RFC7518_C_Z, b"x", b"", b"", &mut long);
        let mut short = [0u8; 32];
        concat_kdf(&RFC7518_C_Z, b"x", b"", b"", &mut short);
        assert_ne!(long[..32], short[..]);
        assert_ne!(long[32..], [0u8; 16]);
    }
}
