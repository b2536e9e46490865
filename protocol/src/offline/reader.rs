//! The mdoc reader's session, sans-IO: bytes in, bytes out, no clock, randomness passed in.
//!
//! ```text
//! Reader::new(engagement, handover, rng)      keys and transcript from the engagement
//!   .request(&DeviceRequest) -> bytes         SessionEstablishment (first), SessionData (later)
//!   .handle_message(bytes) -> ReaderEvent     the mdoc's SessionData: a DeviceResponse, or the end
//!   .verify(&response, trust, now)            §9.3.1 for every document
//!   .terminate() / .abort(&error) -> bytes    SessionData with status 20 / 10 / 11
//! ```
//!
//! Any error from [`Reader::handle_message`] ends the session; send the peer
//! [`Reader::abort`]'s message (the status for that error) if the transport is still up.

use alloc::vec::Vec;

use p256::SecretKey;
use rand_core::CryptoRngCore;

use super::crypto::{self, Role, SessionCipher};
use super::engagement::DeviceEngagement;
use super::error::OfflineError;
use super::pki::TrustList;
use super::request::DeviceRequest;
use super::response::DeviceResponse;
use super::session::{SessionData, SessionEstablishment, SessionStatus};
use super::transcript::{Handover, SessionTranscript};
use super::verify::{VerifiedDocument, verify_document};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Keys derived; the first request not yet sent.
    Engaged,
    /// A request was sent; waiting for the response.
    AwaitingResponse,
    /// A response arrived; another request may follow.
    Idle,
    /// The session is over.
    Ended,
}

/// What the mdoc's message meant.
#[derive(Debug)]
pub enum ReaderEvent {
    /// A device response (not yet verified: see [`Reader::verify`]). `ended` when the mdoc
    /// also ended the session (status 20 in the same message).
    Response {
        /// The response.
        response: DeviceResponse,
        /// Whether the session ended with it.
        ended: bool,
    },
    /// The mdoc ended the session (status 20) without data.
    Terminated,
}

/// The reader's side of one session.
pub struct Reader {
    e_reader_key: SecretKey,
    /// The establishment without data: its `EReaderKeyBytes` are the transcript's.
    establishment: SessionEstablishment,
    transcript: SessionTranscript,
    cipher: SessionCipher,
    state: State,
}

impl core::fmt::Debug for Reader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reader")
            .field("state", &self.state)
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// Starts a session with the mdoc of `engagement`, received through `handover`: a fresh
    /// ephemeral key `EReaderKey`, the transcript, and the session keys.
    pub fn new(
        engagement: &DeviceEngagement,
        handover: &Handover,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        Self::with_key(engagement, handover, SecretKey::random(rng))
    }

    /// As [`new`](Self::new) with a given ephemeral key (test vectors).
    pub fn with_key(
        engagement: &DeviceEngagement,
        handover: &Handover,
        e_reader_key: SecretKey,
    ) -> Self {
        let establishment = SessionEstablishment::new(&e_reader_key.public_key(), Vec::new());
        let transcript = SessionTranscript::new(
            engagement.as_bytes(),
            establishment.e_reader_key_bytes(),
            handover,
        );
        let shared = crypto::shared_secret(&e_reader_key, engagement.e_device_key());
        let (sk_reader, sk_device) = crypto::session_keys(&shared, &transcript);
        Self {
            e_reader_key,
            establishment,
            transcript,
            cipher: SessionCipher::new(Role::Reader, &sk_reader, &sk_device),
            state: State::Engaged,
        }
    }

    /// The session transcript (reader authentication signs it).
    pub fn transcript(&self) -> &SessionTranscript {
        &self.transcript
    }

    /// Whether the session is over.
    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Encrypts a request: the session establishment the first time, session data after.
    pub fn request(&mut self, request: &DeviceRequest) -> Result<Vec<u8>, OfflineError> {
        let first = match self.state {
            State::Engaged => true,
            State::Idle => false,
            State::AwaitingResponse | State::Ended => return Err(OfflineError::UnexpectedMessage),
        };
        let data = self.cipher.encrypt(&request.to_bytes())?;
        self.state = State::AwaitingResponse;
        Ok(if first {
            let mut establishment = self.establishment.clone();
            establishment.data = data;
            establishment.to_bytes()
        } else {
            SessionData::data(data).to_bytes()
        })
    }

    /// Handles the mdoc's message. Errors end the session.
    pub fn handle_message(&mut self, raw: &[u8]) -> Result<ReaderEvent, OfflineError> {
        let result = self.handle(raw);
        if !matches!(result, Ok(ReaderEvent::Response { ended: false, .. })) {
            self.state = State::Ended;
        }
        result
    }

    fn handle(&mut self, raw: &[u8]) -> Result<ReaderEvent, OfflineError> {
        if self.state != State::AwaitingResponse {
            return Err(OfflineError::UnexpectedMessage);
        }
        let message = SessionData::parse(raw)?;
        match (message.data, message.status) {
            (_, Some(SessionStatus::EncryptionError)) => {
                Err(OfflineError::PeerError(SessionStatus::EncryptionError))
            }
            (_, Some(SessionStatus::DecodingError)) => {
                Err(OfflineError::PeerError(SessionStatus::DecodingError))
            }
            (None, Some(SessionStatus::Terminated)) => Ok(ReaderEvent::Terminated),
            (Some(data), status) => {
                let plaintext = self.cipher.decrypt(&data)?;
                let response = DeviceResponse::parse(&plaintext)?;
                self.state = State::Idle;
                Ok(ReaderEvent::Response {
                    response,
                    ended: status == Some(SessionStatus::Terminated),
                })
            }
            (None, None) => Err(OfflineError::MissingField("data")),
        }
    }

    /// Verifies every document of a response (§9.3.1): one result per document, in order.
    pub fn verify(
        &self,
        response: &DeviceResponse,
        trust: &TrustList,
        now: u64,
    ) -> Vec<Result<VerifiedDocument, OfflineError>> {
        response
            .documents
            .iter()
            .map(|doc| verify_document(doc, &self.transcript, &self.e_reader_key, trust, now))
            .collect()
    }

    /// The session's cipher and transcript, for an extension that continues the session
    /// ([`super::provision`]); only while a response is awaited.
    pub(crate) fn into_session(self) -> Result<(SessionCipher, SessionTranscript), OfflineError> {
        match self.state {
            State::AwaitingResponse => Ok((self.cipher, self.transcript)),
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
