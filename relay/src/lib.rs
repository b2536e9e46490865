//! `kazashi-relay`: the common app's logic. It carries the server's scripts to a chip and the
//! chip's answers back (docs/relay.md), and holds no keys: every decision is the server's, and
//! the run loop is `kazashi_protocol::online::RelayRun`.
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

use kazashi_protocol::apdu::{Command, Response, StatusWord};
use kazashi_protocol::hex;
use kazashi_protocol::online::{ChipHello, Launch, RelayAnswer, RelayReport, RelayScript};
use kazashi_protocol::tlv::{Tag, Tlv};
use kazashi_se::{CardTransport, TransportError};

/// Most scripts one transaction may take before the relay gives up (the server needs two at
/// worst for one applet; more only for several applets).
pub const MAX_EXCHANGES: usize = 16;

/// How often a message is sent again when the server cannot be reached (about 20 s in all).
pub const NETWORK_RETRIES: u32 = 30;

/// How often a hello refused with `chip_busy` is sent again (every second at most: about two
/// minutes, a launch URL's lifetime).
pub const BUSY_RETRIES: u32 = 130;

/// Largest server answer the relay reads.
pub const MAX_ANSWER: u64 = 1 << 20;

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
            .limit(MAX_ANSWER)
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

    /// [`Self::run`], reporting each step.
    pub fn run_with_progress(
        &mut self,
        launch_url: &str,
        progress: &mut dyn Progress,
    ) -> Result<String, RelayClientError> {
        let launch = Launch::parse(launch_url).map_err(|_| RelayClientError::Malformed)?;
        progress.step("Reading the chip's identity…");
        let chip = read_chip_identity(&mut self.card)?;
        progress.step(&format!("Chip {chip}"));
        let mut answer = match launch.script {
            Some(script) => RelayAnswer::Script(script),
            None => {
                progress.step("Asking the server for the script…");
                let hello = serde_json::to_string(&ChipHello { chip: chip.clone() })
                    .map_err(|_| RelayClientError::Malformed)?;
                self.post(&launch.url, &hello)?
            }
        };
        for _ in 0..MAX_EXCHANGES {
            let script = match answer {
                RelayAnswer::Result(token) => {
                    progress.step("Done: the server signed the result.");
                    return Ok(token);
                }
                RelayAnswer::Script(script) => script,
            };
            progress.step(&format!(
                "Running {} commands on the chip (encrypted; this app cannot read them)…",
                script.apdus.len()
            ));
            let mut report = run_script(&mut self.card, &script)?;
            report.chip = Some(chip.clone());
            progress.step("Sending the chip's answers to the server…");
            let body = serde_json::to_string(&report).map_err(|_| RelayClientError::Malformed)?;
            answer = self.post(&launch.url, &body)?;
        }
        Err(RelayClientError::TooManyExchanges)
    }

    fn post(&mut self, url: &str, body: &str) -> Result<RelayAnswer, RelayClientError> {
        // Every message is idempotent on the server (a report it already applied is answered
        // again), so a lost connection or a restarting server is retried, never the chip.
        let mut attempt = 0;
        let (status, text) = loop {
            match self.http.post_json(url, body) {
                Err(RelayClientError::Network(_)) if attempt < NETWORK_RETRIES => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(100 * u64::from(attempt.min(10))));
                }
                // Another transaction for this chip is under way: wait for it.
                Ok((409, text)) if text.contains("\"chip_busy\"") && attempt < BUSY_RETRIES => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(100 * u64::from(attempt.min(10))));
                }
                other => break other?,
            }
        };
        if status == 200 {
            return serde_json::from_str(&text).map_err(|_| RelayClientError::UnexpectedAnswer);
        }
        let error: serde_json::Value =
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Err(RelayClientError::Refused {
            status,
            code: error["error"].as_str().unwrap_or("unknown").into(),
            message: error["message"].as_str().unwrap_or("").into(),
        })
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
/// security domain) and GET DATA `0045` (card image number), as hex.
pub fn read_chip_identity(card: &mut impl CardTransport) -> Result<String, RelayClientError> {
    let select = Command::new(0x00, 0xA4, 0x04, 0x00).with_le(256);
    send(card, &select)?;
    let get = Command::new(0x80, 0xCA, 0x00, 0x45).with_le(256);
    let response = send(card, &get)?;
    if response.sw != StatusWord::Ok {
        return Err(RelayClientError::Card(TransportError::Pcsc(format!(
            "GET DATA 0045 answered {}",
            response.sw
        ))));
    }
    let tlv = Tlv::parse(&response.data).map_err(|_| RelayClientError::Malformed)?;
    match (tlv.tag() == Tag::from_u8(0x45), tlv.primitive_value()) {
        (true, Some(cin)) if !cin.is_empty() => Ok(hex::encode_upper(cin)),
        _ => Err(RelayClientError::Malformed),
    }
}

fn send(card: &mut impl CardTransport, command: &Command) -> Result<Response, RelayClientError> {
    let bytes = command
        .to_bytes()
        .map_err(|_| RelayClientError::Malformed)?;
    let response = card.transmit(&bytes)?;
    Response::parse(&response)
        .map_err(|_| RelayClientError::Card(TransportError::MalformedResponse))
}
