//! `kazashi-relay`: the common app. It carries the server's scripts to a chip and the chip's
//! answers back (docs/relay.md), and holds no keys: every decision is the server's, and the
//! run itself — identity, hello, scripts, reports, answers, resends — is
//! `kazashi_protocol::online::RelaySession`, which the npm package's JavaScript relay runs too.
//! This crate moves its bytes: a [`CardTransport`] to the chip, an [`Http`] client to the
//! server, and sleeps when told to.
//!
//! ```no_run
//! use kazashi_relay::{HttpClient, Relay};
//! use kazashi_se::{Store, VirtualCard};
//!
//! let card = VirtualCard::open(Store::new("chip.json")).unwrap();
//! let mut relay = Relay::new(card, HttpClient::new());
//! let result = relay.run("https://access.example/launch/abc#script=…").unwrap();
//! println!("{result}");
//! ```

#![forbid(unsafe_code)]

use std::time::Duration;

use kazashi_protocol::online::client::{self, GET_CHIP_IDENTITY, SELECT_DEFAULT};
use kazashi_protocol::online::{
    Action, ClientError, Phase, RelayReport, RelayScript, RelaySession, RetryPolicy,
};
use kazashi_se::{CardTransport, TransportError};

pub use kazashi_protocol::online::client::{
    BUSY_RETRIES, MAX_ANSWER, MAX_EXCHANGES, NETWORK_RETRIES,
};

/// Why a relay run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayClientError {
    /// The launch URL or a script is malformed.
    #[error("malformed launch URL or script")]
    Malformed,
    /// The chip could not be reached (removed, reader gone).
    #[error("chip: {0}")]
    Card(#[from] TransportError),
    /// The server could not be reached.
    #[error("server unreachable: {0}")]
    Network(String),
    /// The server refused, with its stable error code.
    #[error("server refused ({status}): {code}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The server's error code.
        code: String,
        /// The server's short message.
        message: String,
    },
    /// The server answered something that is not a script or a result.
    #[error("unexpected answer from the server")]
    UnexpectedAnswer,
    /// More scripts than [`MAX_EXCHANGES`].
    #[error("too many exchanges")]
    TooManyExchanges,
}

/// How the relay talks to the server: POST a JSON body, get a status and a body.
pub trait Http {
    /// POSTs `body` (JSON) to `url`.
    fn post_json(&mut self, url: &str, body: &str) -> Result<(u16, String), RelayClientError>;
}

/// HTTP over `ureq` (HTTPS with rustls).
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
    exchanges: usize,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    /// A client with a 30-second timeout.
    pub fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self {
            agent,
            exchanges: 0,
        }
    }

    /// HTTP exchanges made so far.
    pub fn exchanges(&self) -> usize {
        self.exchanges
    }
}

impl Http for HttpClient {
    fn post_json(&mut self, url: &str, body: &str) -> Result<(u16, String), RelayClientError> {
        self.exchanges += 1;
        let mut response = self
            .agent
            .post(url)
            .header("content-type", "application/json")
            .send(body)
            .map_err(|e| RelayClientError::Network(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER as u64)
            .read_to_string()
            .map_err(|e| RelayClientError::Network(e.to_string()))?;
        Ok((status, text))
    }
}

/// Progress, for a person watching (stderr in the CLI).
pub trait Progress {
    /// One step happened.
    fn step(&mut self, message: &str);
}

impl<F: FnMut(&str)> Progress for F {
    fn step(&mut self, message: &str) {
        self(message)
    }
}

/// The common app: a chip and a way to the server.
pub struct Relay<T: CardTransport, H: Http> {
    card: T,
    http: H,
}

impl<T: CardTransport, H: Http> std::fmt::Debug for Relay<T, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}

impl<T: CardTransport, H: Http> Relay<T, H> {
    /// A relay between `card` and the server reached through `http`.
    pub fn new(card: T, http: H) -> Self {
        Self { card, http }
    }

    /// The HTTP side (to count exchanges, for instance).
    pub fn http(&self) -> &H {
        &self.http
    }

    /// The chip side.
    pub fn card(&mut self) -> &mut T {
        &mut self.card
    }

    /// Runs a transaction from its launch URL; returns the result token.
    pub fn run(&mut self, launch_url: &str) -> Result<String, RelayClientError> {
        self.run_with_progress(launch_url, &mut |_: &str| {})
    }

    /// [`Self::run`], reporting each step. The run itself is
    /// `kazashi_protocol::online::RelaySession`: this only moves bytes and sleeps.
    pub fn run_with_progress(
        &mut self,
        launch_url: &str,
        progress: &mut dyn Progress,
    ) -> Result<String, RelayClientError> {
        let mut session = RelaySession::new(launch_url, RetryPolicy::default())
            .map_err(|_| RelayClientError::Malformed)?;
        let mut last_card_error = None;
        let mut last_network_error = None;
        let mut phase = None;
        loop {
            let now = session.phase();
            if phase != Some(now) {
                if let Some(message) = describe(now, session.chip()) {
                    progress.step(&message);
                }
                phase = Some(now);
            }
            match session.action() {
                Action::Transmit(apdu) => match self.card.transmit(apdu) {
                    Ok(response) => session.card_response(&response),
                    Err(TransportError::NoCard) => {
                        last_card_error = Some(TransportError::NoCard);
                        session.card_removed();
                    }
                    Err(e) => {
                        last_card_error = Some(e);
                        session.card_failed();
                    }
                },
                Action::Post { url, body } => match self.http.post_json(url, body) {
                    Ok((status, text)) => session.http_response(status, text.as_bytes()),
                    Err(RelayClientError::Network(message)) => {
                        last_network_error = Some(message);
                        session.network_failed();
                    }
                    Err(other) => return Err(other),
                },
                Action::Wait { millis } => {
                    std::thread::sleep(Duration::from_millis(u64::from(millis)));
                    session.waited();
                }
                Action::Done(token) => return Ok(token.to_owned()),
                Action::Failed(error) => {
                    return Err(client_error(
                        error,
                        last_card_error.take(),
                        last_network_error.take(),
                    ));
                }
            }
        }
    }
}

/// What a person watching is told at each phase.
fn describe(phase: Phase, chip: Option<&str>) -> Option<String> {
    Some(match phase {
        Phase::Identity => "Reading the chip's identity…".into(),
        Phase::Hello => format!("Chip {}: asking the server for the script…", chip?),
        Phase::Script { apdus, .. } => format!(
            "Chip {}: running {apdus} commands (encrypted; this app cannot read them)…",
            chip.unwrap_or("?")
        ),
        Phase::Report { .. } => "Sending the chip's answers to the server…".into(),
        Phase::Waiting { busy: true } => {
            "Another transaction for this chip is under way: waiting…".into()
        }
        Phase::Waiting { busy: false } => "The server cannot be reached: trying again…".into(),
        Phase::Done => "Done: the server signed the result.".into(),
        Phase::Failed => return None,
    })
}

fn client_error(
    error: &ClientError,
    card: Option<TransportError>,
    network: Option<String>,
) -> RelayClientError {
    match error {
        ClientError::Card => RelayClientError::Card(
            card.unwrap_or_else(|| TransportError::Pcsc("the chip could not be reached".into())),
        ),
        ClientError::CardResponse => RelayClientError::Card(TransportError::MalformedResponse),
        ClientError::NoChipIdentity(Some(sw)) => {
            RelayClientError::Card(TransportError::Pcsc(format!("GET DATA 0045 answered {sw}")))
        }
        ClientError::Network => RelayClientError::Network(
            network.unwrap_or_else(|| "the server could not be reached".into()),
        ),
        ClientError::Refused {
            status,
            code,
            message,
        } => RelayClientError::Refused {
            status: *status,
            code: code.clone(),
            message: message.clone(),
        },
        ClientError::UnexpectedAnswer => RelayClientError::UnexpectedAnswer,
        ClientError::TooManyExchanges => RelayClientError::TooManyExchanges,
        _ => RelayClientError::Malformed,
    }
}

/// Runs one script against the chip (`RelayRun`'s loop); a chip that goes away mid-run ends
/// the run with what was answered, and the server judges it.
pub fn run_script(
    card: &mut impl CardTransport,
    script: &RelayScript,
) -> Result<RelayReport, RelayClientError> {
    let mut run = script.start().map_err(|_| RelayClientError::Malformed)?;
    while let Some(apdu) = run.next_apdu() {
        match card.transmit(apdu) {
            Ok(response) => run.handle_response(&response),
            Err(TransportError::NoCard) => {
                run.abort();
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(run.finish())
}

/// Reads the chip's identity without keys: SELECT the default application (the issuer
/// security domain) and GET DATA `0045` (card image number), as hex
/// (`kazashi_protocol::online::client::parse_chip_identity`).
pub fn read_chip_identity(card: &mut impl CardTransport) -> Result<String, RelayClientError> {
    let select = card.transmit(&SELECT_DEFAULT)?;
    if select.len() < 2 {
        return Err(RelayClientError::Card(TransportError::MalformedResponse));
    }
    let answer = card.transmit(&GET_CHIP_IDENTITY)?;
    client::parse_chip_identity(&answer).map_err(|e| client_error(&e, None, None))
}
