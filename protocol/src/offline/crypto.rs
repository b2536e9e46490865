//! Session encryption (18013-5 §9.1.1.5) and the EMacKey (§9.1.3.5).
//!
//! `SKReader` and `SKDevice` are HKDF-SHA256 (RFC 5869) of the ECDH shared secret of the
//! ephemeral keys, salt SHA-256(`SessionTranscriptBytes`), info `"SKReader"` / `"SKDevice"`,
//! 32 bytes. Messages are AES-256-GCM with a 12-byte IV: an 8-byte identifier (zero for the
//! reader, `00…01` for the mdoc) then a 4-byte big-endian message counter that starts at 1 in
//! each direction. A message that arrives with another counter (replayed, dropped, reordered)
//! does not authenticate.

use alloc::vec::Vec;
use core::fmt;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use p256::ecdh::SharedSecret;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::error::OfflineError;
use super::transcript::SessionTranscript;

/// A 32-byte symmetric key: zeroized on drop, `Debug` redacted, neither `Clone` nor
/// `Serialize`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SymmetricKey([u8; 32]);

impl SymmetricKey {
    /// The key bytes (for tests against published vectors and for HMAC).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// HKDF-SHA256 of an ECDH shared secret, salt SHA-256(`SessionTranscriptBytes`).
    fn derive(shared: &SharedSecret, transcript: &SessionTranscript, info: &[u8]) -> Self {
        let salt = transcript.salt();
        let hkdf = shared.extract::<Sha256>(Some(&salt));
        let mut okm = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit of 255 × 32.
        let _ = hkdf.expand(info, &mut okm);
        Self(okm)
    }
}

impl fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SymmetricKey(..)")
    }
}

/// The ECDH shared secret of one of our keys and a peer's public key.
pub fn shared_secret(own: &SecretKey, peer: &PublicKey) -> SharedSecret {
    p256::ecdh::diffie_hellman(own.to_nonzero_scalar(), peer.as_affine())
}

/// `SKReader` and `SKDevice` from the ephemeral ECDH shared secret (§9.1.1.5).
pub fn session_keys(
    shared: &SharedSecret,
    transcript: &SessionTranscript,
) -> (SymmetricKey, SymmetricKey) {
    (
        SymmetricKey::derive(shared, transcript, b"SKReader"),
        SymmetricKey::derive(shared, transcript, b"SKDevice"),
    )
}

/// `EMacKey` (§9.1.3.5): HKDF-SHA256 of ECDH(device key, `EReaderKey`), the same salt, info
/// `"EMacKey"`. The mdoc uses its `SDeviceKey` private key and the reader's ephemeral public
/// key; the reader its ephemeral private key and the MSO's device key.
pub fn emac_key(shared: &SharedSecret, transcript: &SessionTranscript) -> SymmetricKey {
    SymmetricKey::derive(shared, transcript, b"EMacKey")
}

/// Which side of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The mdoc reader (the kiosk).
    Reader,
    /// The mdoc (the phone, the holder).
    Device,
}

impl Role {
    /// The 8-byte IV identifier of messages this role sends (§9.1.1.5).
    fn identifier(self) -> [u8; 8] {
        match self {
            Role::Reader => [0; 8],
            Role::Device => [0, 0, 0, 0, 0, 0, 0, 1],
        }
    }

    fn peer(self) -> Self {
        match self {
            Role::Reader => Role::Device,
            Role::Device => Role::Reader,
        }
    }
}

/// One side's session encryption: its own key and counter for what it sends, the peer's for
/// what it receives.
pub struct SessionCipher {
    role: Role,
    send: Aes256Gcm,
    receive: Aes256Gcm,
    /// Counter of the next message sent; starts at 1.
    sent: u32,
    /// Counter of the next message expected; starts at 1.
    received: u32,
}

impl fmt::Debug for SessionCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCipher")
            .field("role", &self.role)
            .field("sent", &self.sent)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl SessionCipher {
    /// The cipher of `role` from `SKReader` and `SKDevice`.
    pub fn new(role: Role, sk_reader: &SymmetricKey, sk_device: &SymmetricKey) -> Self {
        let reader = Aes256Gcm::new(sk_reader.as_bytes().into());
        let device = Aes256Gcm::new(sk_device.as_bytes().into());
        let (send, receive) = match role {
            Role::Reader => (reader, device),
            Role::Device => (device, reader),
        };
        Self {
            role,
            send,
            receive,
            sent: 1,
            received: 1,
        }
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    fn nonce(role: Role, counter: u32) -> [u8; 12] {
        let mut iv = [0u8; 12];
        iv[..8].copy_from_slice(&role.identifier());
        iv[8..].copy_from_slice(&counter.to_be_bytes());
        iv
    }

    /// Encrypts the next outgoing message.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, OfflineError> {
        if self.sent == u32::MAX {
            return Err(OfflineError::CounterExhausted);
        }
        let iv = Self::nonce(self.role, self.sent);
        let ciphertext = self
            .send
            .encrypt(Nonce::from_slice(&iv), plaintext)
            .map_err(|_| OfflineError::MessageTooLarge)?;
        self.sent += 1;
        Ok(ciphertext)
    }

    /// Decrypts the next incoming message. The counter advances only on success, so a forged
    /// or replayed message does not shift the expected counter.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, OfflineError> {
        if self.received == u32::MAX {
            return Err(OfflineError::CounterExhausted);
        }
        let iv = Self::nonce(self.role.peer(), self.received);
        let plaintext = self
            .receive
            .decrypt(Nonce::from_slice(&iv), ciphertext)
            .map_err(|_| OfflineError::DecryptionFailed)?;
        self.received += 1;
        Ok(plaintext)
    }

    /// The counters of the next message sent and the next expected (for tests and logs).
    pub fn counters(&self) -> (u32, u32) {
        (self.sent, self.received)
    }
}
