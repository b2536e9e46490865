//! The mdoc's (holder's) session, sans-IO.
//!
//! ```text
//! Holder::new(retrieval methods, rng)         QR engagement (handover null)
//! Holder::with_nfc_handover(nfc, rng)         NFC static handover: the Handover Select message
//!   .handle_message(bytes) -> HolderEvent     SessionEstablishment or SessionData from the reader
//!   .respond(&DeviceResponse) -> bytes        encrypted SessionData
//!   .terminate() / .abort(&error) -> bytes    SessionData with status 20 / 10 / 11
//! ```
//!
//! The holder decides what to release; [`crate::offline::present::DocumentBuilder`] builds
//! the documents with the transcript and the reader's key this session exposes.

use alloc::vec::Vec;

use p256::{PublicKey, SecretKey};
use rand_core::CryptoRngCore;

use super::crypto::{self, Role, SessionCipher};
use super::engagement::{DeviceEngagement, NfcOptions, RetrievalMethod};
use super::error::OfflineError;
use super::ndef::HandoverSelect;
use super::request::DeviceRequest;
use super::response::DeviceResponse;
use super::session::{SessionData, SessionEstablishment, SessionStatus};
use super::transcript::{Handover, SessionTranscript};

struct Established {
    cipher: SessionCipher,
    transcript: SessionTranscript,
    e_reader_key: PublicKey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Engagement shown; waiting for the session establishment.
    Engaged,
    /// A request was delivered; the response is due.
    Responding,
    /// The response was sent; another request or the end may follow.
    Listening,
    /// The session is over.
    Ended,
}

/// What the reader's message meant.
#[derive(Debug)]
pub enum HolderEvent {
    /// A device request to answer with [`Holder::respond`].
    Request(DeviceRequest),
    /// The reader ended the session (status 20).
    Terminated,
}

/// The mdoc's side of one session.
pub struct Holder {
    e_device_key: SecretKey,
    engagement: DeviceEngagement,
    handover: Handover,
    session: Option<Established>,
    state: State,
}

impl core::fmt::Debug for Holder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Holder")
            .field("state", &self.state)
            .field("engagement", &self.engagement)
            .finish_non_exhaustive()
    }
}

impl Holder {
    /// An engagement for a QR code offering `methods`, with a fresh `EDeviceKey`.
    pub fn new(methods: Vec<RetrievalMethod>, rng: &mut impl CryptoRngCore) -> Self {
        Self::with_key(SecretKey::random(rng), methods, Handover::Qr)
    }

    /// An engagement by NFC static handover offering NFC data retrieval: returns the
    /// Handover Select message the mdoc's NDEF tag serves.
    pub fn with_nfc_handover(
        nfc: NfcOptions,
        rng: &mut impl CryptoRngCore,
    ) -> (Self, HandoverSelect) {
        let key = SecretKey::random(rng);
        let engagement = DeviceEngagement::new(&key.public_key(), Vec::new());
        let select = HandoverSelect::build_nfc(&engagement, nfc);
        let handover = Handover::NfcStatic {
            select: select.as_bytes().to_vec(),
        };
        (
            Self {
                e_device_key: key,
                engagement,
                handover,
                session: None,
                state: State::Engaged,
            },
            select,
        )
    }

    /// An engagement with a given ephemeral key and handover (test vectors, other handovers).
    pub fn with_key(
        e_device_key: SecretKey,
        methods: Vec<RetrievalMethod>,
        handover: Handover,
    ) -> Self {
        let engagement = DeviceEngagement::new(&e_device_key.public_key(), methods);
        Self::with_engagement(e_device_key, engagement, handover)
    }

    /// A session for an engagement already encoded (it must carry `e_device_key`'s public
    /// key).
    pub fn with_engagement(
        e_device_key: SecretKey,
        engagement: DeviceEngagement,
        handover: Handover,
    ) -> Self {
        Self {
            e_device_key,
            engagement,
            handover,
            session: None,
            state: State::Engaged,
        }
    }

    /// The device engagement (its [`to_qr`](DeviceEngagement::to_qr) is the QR text).
    pub fn engagement(&self) -> &DeviceEngagement {
        &self.engagement
    }

    /// The transcript, once the session is established.
    pub fn transcript(&self) -> Option<&SessionTranscript> {
        self.session.as_ref().map(|s| &s.transcript)
    }

    /// The reader's ephemeral key, once the session is established (for `deviceMac`).
    pub fn e_reader_key(&self) -> Option<&PublicKey> {
        self.session.as_ref().map(|s| &s.e_reader_key)
    }

    /// Whether the session is over.
    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Handles the reader's message. Errors end the session: answer with
    /// [`abort`](Self::abort).
    pub fn handle_message(&mut self, raw: &[u8]) -> Result<HolderEvent, OfflineError> {
        let result = self.handle(raw);
        if !matches!(result, Ok(HolderEvent::Request(_))) {
            self.state = State::Ended;
        }
        result
    }

    fn handle(&mut self, raw: &[u8]) -> Result<HolderEvent, OfflineError> {
        match self.state {
            State::Engaged => {
                let establishment = SessionEstablishment::parse(raw)?;
                let transcript = SessionTranscript::new(
                    self.engagement.as_bytes(),
                    establishment.e_reader_key_bytes(),
                    &self.handover,
                );
                let shared =
                    crypto::shared_secret(&self.e_device_key, establishment.e_reader_key());
                let (sk_reader, sk_device) = crypto::session_keys(&shared, &transcript);
                let mut cipher = SessionCipher::new(Role::Device, &sk_reader, &sk_device);
                let plaintext = cipher.decrypt(&establishment.data)?;
                self.session = Some(Established {
                    cipher,
                    transcript,
                    e_reader_key: *establishment.e_reader_key(),
                });
                let request = DeviceRequest::parse(&plaintext)?;
                self.state = State::Responding;
                Ok(HolderEvent::Request(request))
            }
            State::Listening => {
                let message = SessionData::parse(raw)?;
                match (message.data, message.status) {
                    (_, Some(SessionStatus::EncryptionError)) => {
                        Err(OfflineError::PeerError(SessionStatus::EncryptionError))
                    }
                    (_, Some(SessionStatus::DecodingError)) => {
                        Err(OfflineError::PeerError(SessionStatus::DecodingError))
                    }
                    (_, Some(SessionStatus::Terminated)) => Ok(HolderEvent::Terminated),
                    (Some(data), None) => {
                        let session = self
                            .session
                            .as_mut()
                            .ok_or(OfflineError::UnexpectedMessage)?;
                        let plaintext = session.cipher.decrypt(&data)?;
                        let request = DeviceRequest::parse(&plaintext)?;
                        self.state = State::Responding;
                        Ok(HolderEvent::Request(request))
                    }
                    (None, None) => Err(OfflineError::MissingField("data")),
                }
            }
            State::Responding | State::Ended => Err(OfflineError::UnexpectedMessage),
        }
    }

    /// Encrypts the response to the request just delivered.
    pub fn respond(&mut self, response: &DeviceResponse) -> Result<Vec<u8>, OfflineError> {
        if self.state != State::Responding {
            return Err(OfflineError::UnexpectedMessage);
        }
        let session = self
            .session
            .as_mut()
            .ok_or(OfflineError::UnexpectedMessage)?;
        let data = session.cipher.encrypt(&response.to_bytes())?;
        self.state = State::Listening;
        Ok(SessionData::data(data).to_bytes())
    }

    /// The session's cipher and transcript, for an extension that continues the session
    /// ([`super::provision`]); only while a request is being answered.
    pub(crate) fn into_session(self) -> Result<(SessionCipher, SessionTranscript), OfflineError> {
        match (self.state, self.session) {
            (State::Responding, Some(session)) => Ok((session.cipher, session.transcript)),
            _ => Err(OfflineError::UnexpectedMessage),
        }
    }

    /// Ends the session: `SessionData` with status 20.
    pub fn terminate(&mut self) -> Vec<u8> {
        self.state = State::Ended;
        SessionData::status(SessionStatus::Terminated).to_bytes()
    }

    /// Ends the session because of `error`: `SessionData` with its status (10, 11 or 20).
    pub fn abort(&mut self, error: &OfflineError) -> Vec<u8> {
        self.state = State::Ended;
        SessionData::status(error.session_status()).to_bytes()
    }
}
