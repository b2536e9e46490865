//! Per-chip SCP03 static keys derived from one master key and the chip's key diversification
//! data (`docs/server.md`, "Key diversification").
//!
//! Each key is the output of the NIST SP 800-108r1 §4.1 KDF in counter mode with PRF
//! AES-256-CMAC (NIST SP 800-38B) keyed by the 32-byte master key. For block `i` (1, 2):
//!
//! ```text
//! K(i) = AES-256-CMAC(master, [i]₃₂ ‖ Label ‖ 00 ‖ Context ‖ [L]₃₂)
//! ```
//!
//! with `[x]₃₂` big-endian on 4 bytes, `Label` the ASCII string `kazashi-scp03-enc`,
//! `kazashi-scp03-mac` or `kazashi-scp03-dek`, `Context` the 10 bytes of key diversification
//! data (returned by the card in INITIALIZE UPDATE, Amendment D §7.1.1), and `L` the key
//! length in bits; the key is the first `L / 8` bytes of `K(1) ‖ K(2)`.

use aes::cipher::KeyInit;
use cmac::{Cmac, Mac};
use zeroize::Zeroizing;

use super::keys::{Key, KeyLength, StaticKeys};

/// The label of Key-ENC.
pub const LABEL_ENC: &[u8] = b"kazashi-scp03-enc";
/// The label of Key-MAC.
pub const LABEL_MAC: &[u8] = b"kazashi-scp03-mac";
/// The label of Key-DEK.
pub const LABEL_DEK: &[u8] = b"kazashi-scp03-dek";

/// Derives a chip's static keys (Key-ENC, Key-MAC, Key-DEK) of `key_len` from the master key
/// and the chip's key diversification data.
pub fn diversify_static_keys(master: &[u8; 32], kdd: &[u8; 10], key_len: KeyLength) -> StaticKeys {
    let derive =
        |label: &[u8]| Key::from_array(&derive_key(master, label, kdd, key_len.bytes()), key_len);
    StaticKeys::from_parts(derive(LABEL_ENC), derive(LABEL_MAC), derive(LABEL_DEK))
}

/// SP 800-108 counter mode, PRF AES-256-CMAC, r = 32, `[L]₃₂`; `len` ≤ 32 bytes.
fn derive_key(master: &[u8; 32], label: &[u8], context: &[u8], len: usize) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    let l_bits = ((len * 8) as u32).to_be_bytes();
    for (i, chunk) in out[..len].chunks_mut(16).enumerate() {
        let mut prf = <Cmac<aes::Aes256> as KeyInit>::new(master.into());
        prf.update(&((i as u32) + 1).to_be_bytes());
        prf.update(label);
        prf.update(&[0x00]);
        prf.update(context);
        prf.update(&l_bits);
        let block = prf.finalize().into_bytes();
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn hex(s: &str) -> Vec<u8> {
        ::hex::decode(s).unwrap()
    }

    // Known answers computed independently with Python `cryptography` 48 (`CMAC(AES(master))`
    // over `i₃₂ ‖ label ‖ 00 ‖ kdd ‖ L₃₂`), the construction of the module documentation.
    const VECTORS: &[(&str, &str, KeyLength, [&str; 3])] = &[
        (
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "00010203040506070809",
            KeyLength::Aes128,
            [
                "75AD38ED861F5A7CEE922336EFDC55D8",
                "F404500EA59770E626085F3A7AA0844C",
                "25B1F8055E0E15231BD0266F873299E0",
            ],
        ),
        (
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "00010203040506070809",
            KeyLength::Aes192,
            [
                "60551F5F596DB06A4B32E40E0C57799EDA2E143F92841077",
                "7192335C332889E19EC54D115F5776D7AB35F3EFB788DCD2",
                "2EE689335BF5497A79F5913B258915D44CCCA3212F68FF7F",
            ],
        ),
        (
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "00010203040506070809",
            KeyLength::Aes256,
            [
                "6E4B01D9934FE0D931F5E47B827667CE780F82EDEF0E16035A9872698F398C84",
                "5B31EDB0D283ECF3CDD7ACFF16A28855CB80CB32D6BC8ED92C582BA037417FD8",
                "12A2BBFA9F2A859424FABB49F27270E15E73B836BAEFAC756F9F50A3C802F86C",
            ],
        ),
        (
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "4b415a415348490000ff",
            KeyLength::Aes128,
            [
                "A7C2F2CD219C7432432CCE4A328AD7C5",
                "CD714889C8D3ACD1F38B20EC832507A0",
                "E0D8EB9E50298295E2E5B3D9540550F2",
            ],
        ),
        (
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "4b415a415348490000ff",
            KeyLength::Aes256,
            [
                "211A6A363C93231C1EB41818C69D0E1BCF191E1617A0CDE53D91E9D26E72A1EC",
                "64C9C66BE0B06D2723C252CB1AD8B10D4237F8F748A25A83C66271F87B99607E",
                "1E0BB91DC512BEF9EB6CEB05826FF943F9AE63B3F1FE80F10E9708725D3E8261",
            ],
        ),
    ];

    #[test]
    fn known_answers() {
        for (master, kdd, len, [enc, mac, dek]) in VECTORS {
            let master: [u8; 32] = hex(master).try_into().unwrap();
            let kdd: [u8; 10] = hex(kdd).try_into().unwrap();
            let keys = diversify_static_keys(&master, &kdd, *len);
            assert_eq!(keys.length(), *len);
            assert_eq!(keys.enc().expose_secret(), &hex(enc)[..]);
            assert_eq!(keys.mac().expose_secret(), &hex(mac)[..]);
            assert_eq!(keys.dek().expose_secret(), &hex(dek)[..]);
        }
    }

    #[test]
    fn one_changed_byte_changes_every_key() {
        let master = [7u8; 32];
        let kdd = [1u8; 10];
        let base = diversify_static_keys(&master, &kdd, KeyLength::Aes128);
        let mut other_kdd = kdd;
        other_kdd[9] ^= 1;
        let mut other_master = master;
        other_master[0] ^= 1;
        for other in [
            diversify_static_keys(&master, &other_kdd, KeyLength::Aes128),
            diversify_static_keys(&other_master, &kdd, KeyLength::Aes128),
        ] {
            assert_ne!(base.enc().expose_secret(), other.enc().expose_secret());
            assert_ne!(base.mac().expose_secret(), other.mac().expose_secret());
            assert_ne!(base.dek().expose_secret(), other.dek().expose_secret());
        }
        assert_ne!(base.enc().expose_secret(), base.mac().expose_secret());
        assert_ne!(base.mac().expose_secret(), base.dek().expose_secret());
    }
}
