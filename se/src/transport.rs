//! Card access behind one small byte-level trait: the virtual card in memory and PC/SC
//! readers are its implementations (the relay and the kiosk use either).

use std::fmt;

/// Why an APDU could not be exchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No card in the reader, or it was removed.
    #[error("no card present (removed?)")]
    NoCard,
    /// The reader is gone (unplugged, or pcscd stopped).
    #[error("reader unavailable: {0}")]
    ReaderUnavailable(String),
    /// Another PC/SC failure.
    #[error("PC/SC: {0}")]
    Pcsc(String),
    /// The card's answer is not a response APDU (fewer than two bytes).
    #[error("malformed response from the card")]
    MalformedResponse,
    /// The virtual card's state could not be saved; the command did not happen.
    #[error("virtual card storage: {0}")]
    Storage(String),
}

/// Something that exchanges APDUs with a card.
pub trait CardTransport {
    /// Sends a command APDU and returns the response APDU (data ‖ SW1 SW2).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError>;
}

impl<T: CardTransport + ?Sized> CardTransport for &mut T {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(apdu)
    }
}

impl<T: CardTransport + ?Sized> CardTransport for Box<T> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(apdu)
    }
}

/// A PC/SC reader (pcscd on Linux, the platform's service elsewhere).
#[cfg(feature = "pcsc")]
pub struct PcscReader {
    card: pcsc::Card,
    name: String,
}

#[cfg(feature = "pcsc")]
impl fmt::Debug for PcscReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcscReader")
            .field("name", &self.name)
            .finish()
    }
}

#[cfg(feature = "pcsc")]
impl PcscReader {
    /// The names of the readers PC/SC knows.
    pub fn list() -> Result<Vec<String>, TransportError> {
        let ctx = pcsc::Context::establish(pcsc::Scope::User).map_err(pcsc_error)?;
        let mut buf = vec![0; ctx.list_readers_len().map_err(pcsc_error)?];
        let names = ctx.list_readers(&mut buf).map_err(pcsc_error)?;
        Ok(names.map(|n| n.to_string_lossy().into_owned()).collect())
    }

    /// Connects (shared, T=0 or T=1) to the card in the reader called `name`.
    pub fn connect(name: &str) -> Result<Self, TransportError> {
        let ctx = pcsc::Context::establish(pcsc::Scope::User).map_err(pcsc_error)?;
        let cname = std::ffi::CString::new(name)
            .map_err(|_| TransportError::ReaderUnavailable(name.into()))?;
        let card = ctx
            .connect(&cname, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
            .map_err(pcsc_error)?;
        Ok(Self {
            card,
            name: name.into(),
        })
    }

    /// The reader's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(feature = "pcsc")]
impl CardTransport for PcscReader {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let mut buf = vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED];
        let response = self.card.transmit(apdu, &mut buf).map_err(pcsc_error)?;
        if response.len() < 2 {
            return Err(TransportError::MalformedResponse);
        }
        Ok(response.to_vec())
    }
}

#[cfg(feature = "pcsc")]
fn pcsc_error(e: pcsc::Error) -> TransportError {
    match e {
        pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard | pcsc::Error::ResetCard => {
            TransportError::NoCard
        }
        pcsc::Error::UnknownReader
        | pcsc::Error::ReaderUnavailable
        | pcsc::Error::NoReadersAvailable
        | pcsc::Error::NoService
        | pcsc::Error::ServiceStopped => TransportError::ReaderUnavailable(e.to_string()),
        other => TransportError::Pcsc(other.to_string()),
    }
}

/// Formats bytes as hex for progress output (never for secrets).
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}
