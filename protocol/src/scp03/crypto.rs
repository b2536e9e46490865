//! AES, AES-CMAC and the SCP03 data derivation scheme (GPC Amendment D §4.1.5; GPCS
//! §B.2.1-B.2.3), over the RustCrypto types.

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{
    BlockCipher, BlockDecryptMut, BlockEncrypt, BlockEncryptMut, InnerIvInit, KeyInit, consts::U16,
};
use aes::{Aes128, Aes192, Aes256};
use alloc::vec::Vec;
use cmac::{Cmac, Mac};
use subtle::ConstantTimeEq;

use super::error::Scp03Error;

/// An AES key schedule of any of the three lengths.
#[derive(Clone)]
pub(crate) enum Aes {
    A128(Aes128),
    A192(Aes192),
    A256(Aes256),
}

fn cbc_encrypt_with<C>(cipher: &C, iv: &[u8; 16], data: &mut [u8])
where
    C: BlockEncryptMut + BlockCipher<BlockSize = U16> + Clone + KeyInit,
{
    let mut enc = cbc::Encryptor::<C>::inner_iv_init(cipher.clone(), iv.into());
    for block in data.chunks_exact_mut(16) {
        enc.encrypt_block_mut(GenericArray::from_mut_slice(block));
    }
}

fn cbc_decrypt_with<C>(cipher: &C, iv: &[u8; 16], data: &mut [u8])
where
    C: BlockDecryptMut + BlockCipher<BlockSize = U16> + Clone + KeyInit,
{
    let mut dec = cbc::Decryptor::<C>::inner_iv_init(cipher.clone(), iv.into());
    for block in data.chunks_exact_mut(16) {
        dec.decrypt_block_mut(GenericArray::from_mut_slice(block));
    }
}

impl Aes {
    pub(crate) fn new(key: &[u8]) -> Result<Self, Scp03Error> {
        let invalid = |_| Scp03Error::InvalidKeyLength { len: key.len() };
        Ok(match key.len() {
            16 => Self::A128(Aes128::new_from_slice(key).map_err(invalid)?),
            24 => Self::A192(Aes192::new_from_slice(key).map_err(invalid)?),
            32 => Self::A256(Aes256::new_from_slice(key).map_err(invalid)?),
            len => return Err(Scp03Error::InvalidKeyLength { len }),
        })
    }

    pub(crate) fn encrypt_block(&self, block: &mut [u8; 16]) {
        let block = GenericArray::from_mut_slice(block);
        match self {
            Self::A128(c) => c.encrypt_block(block),
            Self::A192(c) => c.encrypt_block(block),
            Self::A256(c) => c.encrypt_block(block),
        }
    }

    /// AES-CBC over whole blocks (GPCS §B.2.1); a trailing partial block is left untouched,
    /// callers pad first.
    pub(crate) fn cbc_encrypt(&self, iv: &[u8; 16], data: &mut [u8]) {
        match self {
            Self::A128(c) => cbc_encrypt_with(c, iv, data),
            Self::A192(c) => cbc_encrypt_with(c, iv, data),
            Self::A256(c) => cbc_encrypt_with(c, iv, data),
        }
    }

    pub(crate) fn cbc_decrypt(&self, iv: &[u8; 16], data: &mut [u8]) {
        match self {
            Self::A128(c) => cbc_decrypt_with(c, iv, data),
            Self::A192(c) => cbc_decrypt_with(c, iv, data),
            Self::A256(c) => cbc_decrypt_with(c, iv, data),
        }
    }

    /// The ICV for command (`response == false`) or response encryption: the encryption
    /// counter as a 16-byte big-endian block, its first byte set to `80` for responses,
    /// encrypted with S-ENC (Amendment D §6.2.6, §6.2.7).
    pub(crate) fn icv(&self, counter: u64, response: bool) -> [u8; 16] {
        let mut block = [0u8; 16];
        block[8..].copy_from_slice(&counter.to_be_bytes());
        if response {
            block[0] = 0x80;
        }
        self.encrypt_block(&mut block);
        block
    }
}

/// AES-CMAC (NIST SP 800-38B) keyed once, cloned per computation.
#[derive(Clone)]
pub(crate) enum Prf {
    A128(Cmac<Aes128>),
    A192(Cmac<Aes192>),
    A256(Cmac<Aes256>),
}

impl Prf {
    pub(crate) fn new(key: &[u8]) -> Result<Self, Scp03Error> {
        let invalid = |_| Scp03Error::InvalidKeyLength { len: key.len() };
        Ok(match key.len() {
            16 => Self::A128(<Cmac<Aes128> as KeyInit>::new_from_slice(key).map_err(invalid)?),
            24 => Self::A192(<Cmac<Aes192> as KeyInit>::new_from_slice(key).map_err(invalid)?),
            32 => Self::A256(<Cmac<Aes256> as KeyInit>::new_from_slice(key).map_err(invalid)?),
            len => return Err(Scp03Error::InvalidKeyLength { len }),
        })
    }

    /// The full 16-byte CMAC of the concatenation of `parts`.
    pub(crate) fn compute(&self, parts: &[&[u8]]) -> [u8; 16] {
        fn run<M: Mac + Clone>(mac: &M, parts: &[&[u8]]) -> [u8; 16] {
            let mut mac = mac.clone();
            for part in parts {
                mac.update(part);
            }
            let tag = mac.finalize().into_bytes();
            let mut out = [0u8; 16];
            let n = tag.len().min(16);
            out[..n].copy_from_slice(&tag[..n]);
            out
        }
        match self {
            Self::A128(m) => run(m, parts),
            Self::A192(m) => run(m, parts),
            Self::A256(m) => run(m, parts),
        }
    }
}

/// Constant-time comparison of a received MAC or cryptogram with the expected bytes.
pub(crate) fn ct_eq(expected: &[u8], received: &[u8]) -> bool {
    expected.len() == received.len() && bool::from(expected.ct_eq(received))
}

/// The data derivation scheme of Amendment D §4.1.5: NIST SP 800-108 KDF in counter mode
/// with AES-CMAC, fixed input `00×11 ‖ constant ‖ 00 ‖ L (16 bits) ‖ i ‖ context`, filling
/// `out` (L = `out.len()` × 8 bits).
pub(crate) fn kdf(prf: &Prf, constant: u8, out: &mut [u8], context: &[&[u8]]) {
    let l_bits = ((out.len() * 8) as u16).to_be_bytes();
    for (i, chunk) in out.chunks_mut(16).enumerate() {
        let mut label = [0u8; 16];
        label[11] = constant;
        label[13..15].copy_from_slice(&l_bits);
        label[15] = (i + 1) as u8;
        let mut parts: [&[u8]; 4] = [&label, &[], &[], &[]];
        for (slot, part) in parts[1..].iter_mut().zip(context) {
            *slot = part;
        }
        let block = prf.compute(&parts);
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
}

/// Pads with `80 00..` to a multiple of 16 (GPCS §B.2.3); always adds at least one byte.
pub(crate) fn pad(data: &[u8]) -> Vec<u8> {
    let padded_len = (data.len() / 16 + 1) * 16;
    let mut out = Vec::with_capacity(padded_len);
    out.extend_from_slice(data);
    out.push(0x80);
    out.resize(padded_len, 0);
    out
}

/// Removes `80 00..` padding (GPCS §B.2.3): at most one block of padding, strictly.
pub(crate) fn unpad(mut data: Vec<u8>) -> Result<Vec<u8>, Scp03Error> {
    if data.is_empty() || data.len() % 16 != 0 {
        return Err(Scp03Error::BadPadding);
    }
    let tail_start = data.len() - 16;
    let marker = data[tail_start..]
        .iter()
        .rposition(|&b| b != 0)
        .map(|p| tail_start + p);
    match marker {
        Some(p) if data[p] == 0x80 => {
            data.truncate(p);
            Ok(data)
        }
        _ => Err(Scp03Error::BadPadding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn hex(s: &str) -> Vec<u8> {
        ::hex::decode(s.replace(' ', "")).unwrap()
    }

    // NIST SP 800-38B Appendix D.1 (AES-128), D.2 (AES-192), D.3 (AES-256), example 2
    // (one block of message); checks the three key sizes of our CMAC wrapper.
    #[test]
    fn cmac_nist_sp800_38b() {
        let message = hex("6bc1bee22e409f96e93d7e117393172a");
        for (key, tag) in [
            (
                "2b7e151628aed2a6abf7158809cf4f3c",
                "070a16b46b4d4144f79bdd9dd04a287c",
            ),
            (
                "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
                "9e99a7bf31e710900662f65e617c5184",
            ),
            (
                "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
                "28a7023f452e8f82bd4bf28d8c37c35c",
            ),
        ] {
            let prf = Prf::new(&hex(key)).unwrap();
            assert_eq!(prf.compute(&[&message]).to_vec(), hex(tag));
            // Split input gives the same result.
            assert_eq!(
                prf.compute(&[&message[..5], &message[5..]]).to_vec(),
                hex(tag)
            );
        }
    }

    // NIST SP 800-38A F.2.1 CBC-AES128.Encrypt, first two blocks.
    #[test]
    fn cbc_nist_sp800_38a() {
        let aes = Aes::new(&hex("2b7e151628aed2a6abf7158809cf4f3c")).unwrap();
        let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        let plain = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
        let mut data = plain.clone();
        aes.cbc_encrypt(&iv, &mut data);
        assert_eq!(
            data,
            hex("7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2")
        );
        aes.cbc_decrypt(&iv, &mut data);
        assert_eq!(data, plain);
    }

    #[test]
    fn padding() {
        assert_eq!(pad(&[]), {
            let mut v = vec![0u8; 16];
            v[0] = 0x80;
            v
        });
        assert_eq!(pad(&[1; 16]).len(), 32);
        for len in 0..40 {
            let data = vec![0xA5; len];
            assert_eq!(unpad(pad(&data)).unwrap(), data);
        }
        assert_eq!(unpad(vec![0; 16]), Err(Scp03Error::BadPadding));
        assert_eq!(unpad(vec![0x80; 15]), Err(Scp03Error::BadPadding));
        let mut bad = vec![0u8; 16];
        bad[3] = 0x81;
        assert_eq!(unpad(bad), Err(Scp03Error::BadPadding));
        // Padding longer than one block is refused.
        let mut long = vec![0u8; 32];
        long[0] = 0x80;
        assert_eq!(unpad(long), Err(Scp03Error::BadPadding));
    }
}
