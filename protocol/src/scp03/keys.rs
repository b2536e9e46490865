//! Static key sets (GPC Amendment D §6.1) and the session keys derived from them (§6.2.1).

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::crypto::{Aes, Prf, kdf};
use super::error::Scp03Error;
use super::params::{Aid, Challenge, SMode, SequenceCounter};

/// AES key length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyLength {
    /// 16 bytes.
    Aes128,
    /// 24 bytes.
    Aes192,
    /// 32 bytes.
    Aes256,
}

impl KeyLength {
    /// Length in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Self::Aes128 => 16,
            Self::Aes192 => 24,
            Self::Aes256 => 32,
        }
    }
}

/// One AES-128/192/256 key. Zeroized on drop; `Debug` shows only the length; neither
/// `Clone` nor `Serialize`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Key {
    bytes: [u8; 32],
    len: u8,
}

impl Key {
    /// From 16, 24 or 32 bytes. The caller should zeroize its own copy.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Scp03Error> {
        let len = bytes.len();
        if !matches!(len, 16 | 24 | 32) {
            return Err(Scp03Error::InvalidKeyLength { len });
        }
        let mut key = Self {
            bytes: [0; 32],
            len: len as u8,
        };
        key.bytes[..len].copy_from_slice(bytes);
        Ok(key)
    }

    /// The first `len` bytes of `bytes` (infallible: every [`KeyLength`] fits).
    pub(super) fn from_array(bytes: &[u8; 32], len: KeyLength) -> Self {
        let mut key = Self {
            bytes: [0; 32],
            len: len.bytes() as u8,
        };
        key.bytes[..len.bytes()].copy_from_slice(&bytes[..len.bytes()]);
        key
    }

    /// The key length.
    pub const fn length(&self) -> KeyLength {
        match self.len {
            16 => KeyLength::Aes128,
            24 => KeyLength::Aes192,
            _ => KeyLength::Aes256,
        }
    }

    /// The key bytes. Keep the borrow short and never log it.
    pub fn expose_secret(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({:?}, redacted)", self.length())
    }
}

/// A security domain's static SCP03 key set: Key-ENC, Key-MAC and Key-DEK of the same
/// length (Amendment D §6.1, Table 6-1).
///
/// On the server these are derived per chip from a master key and the chip's key
/// diversification data; on the card they are the stored key set of a key version number.
#[derive(Debug)]
pub struct StaticKeys {
    enc: Key,
    mac: Key,
    dek: Key,
}

impl StaticKeys {
    /// A key set; the three keys must have the same length (§6.1).
    pub fn new(enc: Key, mac: Key, dek: Key) -> Result<Self, Scp03Error> {
        if enc.length() != mac.length() || enc.length() != dek.length() {
            return Err(Scp03Error::KeyLengthMismatch);
        }
        Ok(Self { enc, mac, dek })
    }

    /// Three keys made with the same length (checked by the caller).
    pub(super) fn from_parts(enc: Key, mac: Key, dek: Key) -> Self {
        Self { enc, mac, dek }
    }

    /// From raw bytes (16, 24 or 32 each, all the same length).
    pub fn from_slices(enc: &[u8], mac: &[u8], dek: &[u8]) -> Result<Self, Scp03Error> {
        Self::new(
            Key::from_slice(enc)?,
            Key::from_slice(mac)?,
            Key::from_slice(dek)?,
        )
    }

    /// Key-ENC.
    pub fn enc(&self) -> &Key {
        &self.enc
    }

    /// Key-MAC.
    pub fn mac(&self) -> &Key {
        &self.mac
    }

    /// Key-DEK.
    pub fn dek(&self) -> &Key {
        &self.dek
    }

    /// The length of the key set.
    pub fn length(&self) -> KeyLength {
        self.enc.length()
    }

    /// The pseudo-random card challenge for `counter` (§6.2.2.1): KDF(Key-ENC, constant `02`,
    /// L = 64 or 128 bits, context = counter (3 bytes) ‖ AID).
    pub fn pseudo_random_challenge(
        &self,
        mode: SMode,
        counter: SequenceCounter,
        aid: &Aid,
    ) -> Result<Challenge, Scp03Error> {
        let prf = Prf::new(self.enc.expose_secret())?;
        let mut out = [0u8; 16];
        kdf(
            &prf,
            DERIVE_CARD_CHALLENGE,
            &mut out[..mode.byte_len()],
            &[&counter.to_bytes(), aid.as_bytes()],
        );
        Ok(Challenge::from_array(out, mode))
    }

    /// Encrypts key material or other sensitive data with Key-DEK, AES-CBC with a zero ICV
    /// (Amendment D §6.2.8), in place. `data` must be a whole number of 16-byte blocks (pad
    /// 24-byte keys first; padding is the application's business).
    pub fn encrypt_sensitive(&self, data: &mut [u8]) -> Result<(), Scp03Error> {
        if data.len() % 16 != 0 {
            return Err(Scp03Error::BadPadding);
        }
        Aes::new(self.dek.expose_secret())?.cbc_encrypt(&[0; 16], data);
        Ok(())
    }

    /// The card side of [`StaticKeys::encrypt_sensitive`] (§6.2.8), in place.
    pub fn decrypt_sensitive(&self, data: &mut [u8]) -> Result<(), Scp03Error> {
        if data.len() % 16 != 0 {
            return Err(Scp03Error::BadPadding);
        }
        Aes::new(self.dek.expose_secret())?.cbc_decrypt(&[0; 16], data);
        Ok(())
    }
}

/// Derivation constants, Amendment D §4.1.5 Table 4-1.
pub(crate) const DERIVE_CARD_CRYPTOGRAM: u8 = 0x00;
pub(crate) const DERIVE_HOST_CRYPTOGRAM: u8 = 0x01;
pub(crate) const DERIVE_CARD_CHALLENGE: u8 = 0x02;
pub(crate) const DERIVE_S_ENC: u8 = 0x04;
pub(crate) const DERIVE_S_MAC: u8 = 0x06;
pub(crate) const DERIVE_S_RMAC: u8 = 0x07;

/// S-ENC, S-MAC and S-RMAC of one session (§6.2.1), held as keyed cipher instances that the
/// RustCrypto crates zeroize on drop.
pub(crate) struct SessionKeys {
    pub(crate) enc: Aes,
    pub(crate) mac: Prf,
    pub(crate) rmac: Prf,
}

impl SessionKeys {
    /// §6.2.1: KDF(Key-ENC, 04), KDF(Key-MAC, 06), KDF(Key-MAC, 07), L = key length, context
    /// = host challenge ‖ card challenge.
    pub(crate) fn derive(
        keys: &StaticKeys,
        host_challenge: &Challenge,
        card_challenge: &Challenge,
    ) -> Result<Self, Scp03Error> {
        let len = keys.length().bytes();
        let context: [&[u8]; 2] = [host_challenge.as_bytes(), card_challenge.as_bytes()];
        let mut buf = Zeroizing::new([0u8; 32]);
        let enc_prf = Prf::new(keys.enc.expose_secret())?;
        kdf(&enc_prf, DERIVE_S_ENC, &mut buf[..len], &context);
        let enc = Aes::new(&buf[..len])?;
        let mac_prf = Prf::new(keys.mac.expose_secret())?;
        kdf(&mac_prf, DERIVE_S_MAC, &mut buf[..len], &context);
        let mac = Prf::new(&buf[..len])?;
        kdf(&mac_prf, DERIVE_S_RMAC, &mut buf[..len], &context);
        let rmac = Prf::new(&buf[..len])?;
        Ok(Self { enc, mac, rmac })
    }

    /// The card (constant `00`) or host (`01`) cryptogram (§6.2.2.2, §6.2.2.3).
    pub(crate) fn cryptogram(
        &self,
        constant: u8,
        host_challenge: &Challenge,
        card_challenge: &Challenge,
    ) -> Challenge {
        let mode = host_challenge.mode();
        let mut out = [0u8; 16];
        kdf(
            &self.mac,
            constant,
            &mut out[..mode.byte_len()],
            &[host_challenge.as_bytes(), card_challenge.as_bytes()],
        );
        Challenge::from_array(out, mode)
    }
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKeys(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lengths_and_redaction() {
        assert_eq!(
            Key::from_slice(&[0; 15]).unwrap_err(),
            Scp03Error::InvalidKeyLength { len: 15 }
        );
        let key = Key::from_slice(&[0x42; 24]).unwrap();
        assert_eq!(key.length(), KeyLength::Aes192);
        let shown = alloc::format!("{key:?}");
        assert!(!shown.contains("42"), "{shown}");
        assert_eq!(
            StaticKeys::from_slices(&[0; 16], &[0; 16], &[0; 32]).unwrap_err(),
            Scp03Error::KeyLengthMismatch
        );
    }

    // pySim tests/unittests/test_globalplatform.py (KeyComponentBlock_Test) only checks
    // round trips for the DEK; AES-CBC with zero ICV is checked here the same way.
    #[test]
    fn sensitive_data_round_trip() {
        let keys = StaticKeys::from_slices(&[1; 16], &[2; 16], &[3; 16]).unwrap();
        let mut data = [7u8; 32];
        keys.encrypt_sensitive(&mut data).unwrap();
        assert_ne!(data, [7u8; 32]);
        keys.decrypt_sensitive(&mut data).unwrap();
        assert_eq!(data, [7u8; 32]);
        assert!(keys.encrypt_sensitive(&mut [0u8; 24]).is_err());
    }
}
