//! The common app's side of a transaction (docs/relay.md) as a sans-IO state machine: every
//! relay — the Rust one (`kazashi-relay`), the JavaScript one (npm `kazashi`, through wasm) —
//! is this machine plus a way to reach the chip and a way to POST to the server.
//!
//! The shell asks [`RelaySession::action`] what to do, does it, and hands the outcome back:
//!
//! | action | the shell does | then calls |
//! |---|---|---|
//! | [`Action::Transmit`] | sends the APDU to the chip | [`RelaySession::card_response`], [`RelaySession::card_removed`] or [`RelaySession::card_failed`] |
//! | [`Action::Post`] | POSTs the JSON body to the URL | [`RelaySession::http_response`] or [`RelaySession::network_failed`] |
//! | [`Action::Wait`] | sleeps that long | [`RelaySession::waited`] |
//! | [`Action::Done`] | hands the result token to the page | — |
//! | [`Action::Failed`] | reports the error | — |
//!
//! Decided here, once: reading the chip's identity without keys (SELECT the default
//! application, GET DATA `0045`), the hello when the launch URL carries no script, running each
//! script through [`RelayRun`](super::RelayRun), the report (with the chip's identity), what
//! a server answer means (next script, result, `chip_busy` to wait for, a refusal and its code),
//! and the bounded retries: a message is sent again when the server cannot be reached (every
//! message is idempotent on the server), never a script to the chip.

use alloc::string::{String, ToString};

use serde::Deserialize;

use super::relay::{ChipHello, Launch, RelayAnswer, RelayRun, RelayScript};
use crate::apdu::{Response, StatusWord};
use crate::tlv::{Tag, Tlv};

/// Most scripts one transaction may take before the relay gives up (the server needs two at
/// worst for one applet; more only for several applets).
pub const MAX_EXCHANGES: usize = 16;

/// How often a message is sent again when the server cannot be reached (about 20 s in all).
pub const NETWORK_RETRIES: u32 = 30;

/// How often a message refused with `chip_busy` is sent again (every second at most: about two
/// minutes, a launch URL's lifetime).
pub const BUSY_RETRIES: u32 = 130;

/// Largest server answer the relay reads, in bytes.
pub const MAX_ANSWER: usize = 1 << 20;

/// SELECT with an empty AID (ISO/IEC 7816-4 §11.2.2): the default application, the issuer
/// security domain (GlobalPlatform §11.9.2.1). `Le` 256.
pub const SELECT_DEFAULT: [u8; 5] = [0x00, 0xA4, 0x04, 0x00, 0x00];

/// GET DATA `0045` (GlobalPlatform §11.3): the card image number, the chip's identity;
/// answered without a secure channel. `Le` 256.
pub const GET_CHIP_IDENTITY: [u8; 5] = [0x80, 0xCA, 0x00, 0x45, 0x00];

/// The chip's identity (the CIN, upper-case hex) from its answer to [`GET_CHIP_IDENTITY`].
pub fn parse_chip_identity(rapdu: &[u8]) -> Result<String, ClientError> {
    let response = Response::parse(rapdu).map_err(|_| ClientError::CardResponse)?;
    if response.sw != StatusWord::Ok {
        return Err(ClientError::NoChipIdentity(Some(response.sw)));
    }
    let tlv = Tlv::parse(&response.data).map_err(|_| ClientError::NoChipIdentity(None))?;
    match (tlv.tag() == Tag::from_u8(0x45), tlv.primitive_value()) {
        (true, Some(cin)) if !cin.is_empty() => Ok(crate::hex::encode_upper(cin)),
        _ => Err(ClientError::NoChipIdentity(None)),
    }
}

/// How often a message is sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Resends when the server cannot be reached (or answers 502, 503 or 504).
    pub network: u32,
    /// Resends when the server answers `409 chip_busy`.
    pub busy: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            network: NETWORK_RETRIES,
            busy: BUSY_RETRIES,
        }
    }
}

impl RetryPolicy {
    /// The pause before resend number `attempt` (1, 2, …): 100 ms more each time, at most 1 s.
    pub fn delay_ms(attempt: u32) -> u32 {
        100 * attempt.clamp(1, 10)
    }
}

/// Why a relay run failed. [`ClientError::code`] is stable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The launch URL is not an `http(s)` URL, or its `#script=` fragment is malformed.
    InvalidLaunchUrl,
    /// The server sent a script that is not one (too long, an APDU too short).
    InvalidScript,
    /// The chip could not be reached (the shell knows why).
    Card,
    /// The chip answered something that is not a response APDU.
    CardResponse,
    /// The chip did not give its identity (GET DATA `0045` refused, or not a CIN).
    NoChipIdentity(Option<StatusWord>),
    /// The server could not be reached, after the retries.
    Network,
    /// The server refused, with its stable code.
    Refused {
        /// HTTP status.
        status: u16,
        /// The server's error code (`server_error` when its answer named none).
        code: String,
        /// The server's short message.
        message: String,
    },
    /// The server answered something that is not a script or a result.
    UnexpectedAnswer,
    /// More scripts than [`MAX_EXCHANGES`].
    TooManyExchanges,
    /// The shell called an input that does not answer the current action (a bug of the shell).
    OutOfOrder,
}

impl ClientError {
    /// A stable snake_case code: the server's own code for a refusal.
    pub fn code(&self) -> &str {
        match self {
            Self::InvalidLaunchUrl => "invalid_launch_url",
            Self::InvalidScript => "invalid_script",
            Self::Card | Self::CardResponse => "card_error",
            Self::NoChipIdentity(_) => "no_chip_identity",
            Self::Network => "fetch_failed",
            Self::Refused { code, .. } => code,
            Self::UnexpectedAnswer => "unexpected_answer",
            Self::TooManyExchanges => "too_many_exchanges",
            Self::OutOfOrder => "out_of_order",
        }
    }
}

impl core::fmt::Display for ClientError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InvalidLaunchUrl => f.write_str("malformed launch URL"),
            Self::InvalidScript => f.write_str("the server sent a malformed script"),
            Self::Card => f.write_str("the chip could not be reached"),
            Self::CardResponse => f.write_str("the chip's answer is not a response APDU"),
            Self::NoChipIdentity(Some(sw)) => write!(f, "GET DATA 0045 answered {sw}"),
            Self::NoChipIdentity(None) => f.write_str("the chip's identity is malformed"),
            Self::Network => f.write_str("the server could not be reached"),
            Self::Refused {
                status,
                code,
                message,
            } => write!(f, "the server refused ({status}): {code}: {message}"),
            Self::UnexpectedAnswer => f.write_str("unexpected answer from the server"),
            Self::TooManyExchanges => f.write_str("too many exchanges with the server"),
            Self::OutOfOrder => f.write_str("relay session driven out of order"),
        }
    }
}

impl core::error::Error for ClientError {}

/// What the shell must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// Send this command APDU to the chip.
    Transmit(&'a [u8]),
    /// POST `body` (`application/json`) to `url`.
    Post {
        /// The launch URL without its fragment.
        url: &'a str,
        /// A [`ChipHello`] or a [`super::RelayReport`], JSON.
        body: &'a str,
    },
    /// Wait this long, then call [`RelaySession::waited`].
    Wait {
        /// Milliseconds.
        millis: u32,
    },
    /// The transaction is over: the server's result token, for the page.
    Done(&'a str),
    /// The run failed.
    Failed(&'a ClientError),
}

/// Where the run is, for a person watching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reading the chip's identity.
    Identity,
    /// Telling the server which chip this is, to get the first script.
    Hello,
    /// Running a script on the chip.
    Script {
        /// The script's step.
        step: u32,
        /// Its APDUs.
        apdus: usize,
    },
    /// Sending the chip's answers to the server.
    Report {
        /// The script's step.
        step: u32,
    },
    /// Waiting before sending a message again.
    Waiting {
        /// Why: `true` for `chip_busy`, `false` for the server being unreachable.
        busy: bool,
    },
    /// Finished with a result.
    Done,
    /// Failed.
    Failed,
}

enum State {
    /// Reading the identity: `get_data` once SELECT was answered.
    Identity {
        get_data: bool,
    },
    Running(RelayRun<'static>),
    Posting(Message),
    Waiting {
        message: Message,
        millis: u32,
    },
    Done(String),
    Failed(ClientError),
}

struct Message {
    body: String,
    /// The report's step; `None` for the hello.
    step: Option<u32>,
    network_attempts: u32,
    busy_attempts: u32,
    busy: bool,
}

/// The error body of every refusal (`{"error": CODE, "message": TEXT}`, docs/server.md).
#[derive(Deserialize)]
struct Refusal {
    error: Option<String>,
    message: Option<String>,
}

/// One relay run, from a launch URL to a result token.
pub struct RelaySession {
    url: String,
    first: Option<RelayScript>,
    policy: RetryPolicy,
    chip: Option<String>,
    state: State,
    scripts: usize,
    posts: usize,
}

impl core::fmt::Debug for RelaySession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The URL holds the launch token: not for logs.
        f.debug_struct("RelaySession")
            .field("phase", &self.phase())
            .field("chip", &self.chip)
            .field("scripts", &self.scripts)
            .field("posts", &self.posts)
            .finish_non_exhaustive()
    }
}

impl RelaySession {
    /// A run of the transaction behind `launch_url` (`http(s)://…/launch/{token}`, with or
    /// without a `#script=` fragment).
    pub fn new(launch_url: &str, policy: RetryPolicy) -> Result<Self, ClientError> {
        let launch = Launch::parse(launch_url).map_err(|_| ClientError::InvalidLaunchUrl)?;
        let rest = launch
            .url
            .strip_prefix("https://")
            .or_else(|| launch.url.strip_prefix("http://"))
            .ok_or(ClientError::InvalidLaunchUrl)?;
        if rest.is_empty() || rest.starts_with('/') || launch.url.chars().any(char::is_whitespace) {
            return Err(ClientError::InvalidLaunchUrl);
        }
        Ok(Self {
            url: launch.url,
            first: launch.script,
            policy,
            chip: None,
            state: State::Identity { get_data: false },
            scripts: 0,
            posts: 0,
        })
    }

    /// What to do next.
    pub fn action(&self) -> Action<'_> {
        match &self.state {
            State::Identity { get_data: false } => Action::Transmit(&SELECT_DEFAULT),
            State::Identity { get_data: true } => Action::Transmit(&GET_CHIP_IDENTITY),
            // A run that is over is never left in this state (see `advance_run`).
            State::Running(run) => Action::Transmit(run.next_apdu().unwrap_or(&[])),
            State::Posting(message) => Action::Post {
                url: &self.url,
                body: &message.body,
            },
            State::Waiting { millis, .. } => Action::Wait { millis: *millis },
            State::Done(token) => Action::Done(token),
            State::Failed(error) => Action::Failed(error),
        }
    }

    /// Where the run is.
    pub fn phase(&self) -> Phase {
        match &self.state {
            State::Identity { .. } => Phase::Identity,
            State::Running(run) => Phase::Script {
                step: run.script().step,
                apdus: run.script().apdus.len(),
            },
            State::Posting(message) => match message.step {
                None => Phase::Hello,
                Some(step) => Phase::Report { step },
            },
            State::Waiting { message, .. } => Phase::Waiting { busy: message.busy },
            State::Done(_) => Phase::Done,
            State::Failed(_) => Phase::Failed,
        }
    }

    /// The chip's identity, once read.
    pub fn chip(&self) -> Option<&str> {
        self.chip.as_deref()
    }

    /// HTTP requests made so far (resends included).
    pub fn posts(&self) -> usize {
        self.posts
    }

    /// Scripts run so far.
    pub fn scripts(&self) -> usize {
        self.scripts
    }

    /// The chip answered the APDU of [`Action::Transmit`].
    pub fn card_response(&mut self, rapdu: &[u8]) {
        match &mut self.state {
            State::Identity { get_data: false } => {
                // Only a response is needed: the ISD's FCI and status do not matter here.
                self.state = match Response::parse(rapdu) {
                    Ok(_) => State::Identity { get_data: true },
                    Err(_) => State::Failed(ClientError::CardResponse),
                };
            }
            State::Identity { get_data: true } => match parse_chip_identity(rapdu) {
                Ok(chip) => {
                    self.chip = Some(chip.clone());
                    self.state = match self.first.take() {
                        Some(script) => self.start(script),
                        None => match serde_json::to_string(&ChipHello { chip }) {
                            Ok(body) => State::Posting(Message::new(body, None)),
                            Err(_) => State::Failed(ClientError::InvalidScript),
                        },
                    };
                }
                Err(e) => self.state = State::Failed(e),
            },
            State::Running(run) => {
                run.handle_response(rapdu);
                self.advance_run();
            }
            _ => self.out_of_order(),
        }
    }

    /// The card went away: a script run ends with what was answered (the server judges it and
    /// ends the transaction with a signed result); before that, the run fails.
    pub fn card_removed(&mut self) {
        match &mut self.state {
            State::Running(run) => {
                run.abort();
                self.advance_run();
            }
            State::Identity { .. } => self.state = State::Failed(ClientError::Card),
            _ => self.out_of_order(),
        }
    }

    /// The chip could not be reached for another reason (a reader error): the run fails.
    pub fn card_failed(&mut self) {
        match self.state {
            State::Identity { .. } | State::Running(_) => {
                self.state = State::Failed(ClientError::Card);
            }
            _ => self.out_of_order(),
        }
    }

    /// The server answered the [`Action::Post`] with an HTTP status and a body.
    pub fn http_response(&mut self, status: u16, body: &[u8]) {
        let State::Posting(message) = &mut self.state else {
            return self.out_of_order();
        };
        self.posts += 1;
        if matches!(status, 502..=504) {
            // A proxy in front of a restarting server: as if unreachable.
            return self.network_failed_counted();
        }
        if body.len() > MAX_ANSWER {
            self.state = State::Failed(ClientError::UnexpectedAnswer);
            return;
        }
        if status == 200 {
            self.state = match serde_json::from_slice::<RelayAnswer>(body) {
                Ok(RelayAnswer::Result(token)) => State::Done(token),
                Ok(RelayAnswer::Script(script)) if self.scripts >= MAX_EXCHANGES => {
                    drop(script);
                    State::Failed(ClientError::TooManyExchanges)
                }
                Ok(RelayAnswer::Script(script)) => self.start(script),
                Err(_) => State::Failed(ClientError::UnexpectedAnswer),
            };
            return;
        }
        let refusal = serde_json::from_slice::<Refusal>(body).ok();
        let code = refusal.as_ref().and_then(|r| r.error.clone());
        // Another transaction for this chip is under way: wait for it.
        if status == 409
            && code.as_deref() == Some("chip_busy")
            && message.busy_attempts < self.policy.busy
        {
            message.busy_attempts += 1;
            message.busy = true;
            let millis = RetryPolicy::delay_ms(message.busy_attempts);
            self.wait(millis);
            return;
        }
        self.state = State::Failed(ClientError::Refused {
            status,
            code: code
                .filter(|c| is_code(c))
                .unwrap_or_else(|| "server_error".to_string()),
            message: refusal.and_then(|r| r.message).unwrap_or_default(),
        });
    }

    /// The [`Action::Post`] could not reach the server (no connection, a timeout, a dropped
    /// connection before the whole answer was read).
    pub fn network_failed(&mut self) {
        if !matches!(self.state, State::Posting(_)) {
            return self.out_of_order();
        }
        self.posts += 1;
        self.network_failed_counted();
    }

    /// The [`Action::Wait`] is over: the message is sent again.
    pub fn waited(&mut self) {
        match core::mem::replace(&mut self.state, State::Failed(ClientError::OutOfOrder)) {
            State::Waiting { message, .. } => self.state = State::Posting(message),
            other => {
                self.state = other;
                self.out_of_order();
            }
        }
    }

    fn network_failed_counted(&mut self) {
        let State::Posting(message) = &mut self.state else {
            return self.out_of_order();
        };
        if message.network_attempts >= self.policy.network {
            self.state = State::Failed(ClientError::Network);
            return;
        }
        message.network_attempts += 1;
        message.busy = false;
        let millis = RetryPolicy::delay_ms(message.network_attempts);
        self.wait(millis);
    }

    fn wait(&mut self, millis: u32) {
        if let State::Posting(message) =
            core::mem::replace(&mut self.state, State::Failed(ClientError::OutOfOrder))
        {
            self.state = State::Waiting { message, millis };
        }
    }

    fn start(&mut self, script: RelayScript) -> State {
        match script.into_run() {
            Ok(run) => {
                self.scripts += 1;
                let mut state = State::Running(run);
                // An empty script is reported at once.
                if let State::Running(run) = &state {
                    if run.next_apdu().is_none() {
                        state = self.report(state);
                    }
                }
                state
            }
            Err(_) => State::Failed(ClientError::InvalidScript),
        }
    }

    /// After a response or an abort: the next APDU, or the report when the run is over.
    fn advance_run(&mut self) {
        if let State::Running(run) = &self.state {
            if run.next_apdu().is_none() {
                let state =
                    core::mem::replace(&mut self.state, State::Identity { get_data: false });
                self.state = self.report(state);
            }
        }
    }

    fn report(&self, state: State) -> State {
        let State::Running(run) = state else {
            return state;
        };
        let mut report = run.finish();
        report.chip = self.chip.clone();
        let step = report.step;
        match serde_json::to_string(&report) {
            Ok(body) => State::Posting(Message::new(body, Some(step))),
            Err(_) => State::Failed(ClientError::InvalidScript),
        }
    }

    fn out_of_order(&mut self) {
        // A finished run stays finished: late inputs change nothing.
        if !matches!(self.state, State::Done(_) | State::Failed(_)) {
            self.state = State::Failed(ClientError::OutOfOrder);
        }
    }
}

impl Message {
    fn new(body: String, step: Option<u32>) -> Self {
        Self {
            body,
            step,
            network_attempts: 0,
            busy_attempts: 0,
            busy: false,
        }
    }
}

/// A server's code is snake_case ASCII, short: anything else is not passed on as a code.
fn is_code(code: &str) -> bool {
    (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apdu::Command;
    use crate::online::{RelayReport, ScriptApdu};
    use alloc::vec;
    use alloc::vec::Vec;

    const URL: &str = "https://s.test/launch/abc";
    const CIN: [u8; 8] = [0x4B, 0x0E, 0x1D, 0x06, 0x76, 0xEE, 0x3C, 0x5E];

    fn script(step: u32, n: usize) -> RelayScript {
        RelayScript {
            step,
            apdus: (0..n)
                .map(|i| ScriptApdu {
                    capdu: vec![0x84, 0xD0, 0, i as u8],
                    stop_unless_ok: i == 0,
                })
                .collect(),
        }
    }

    fn identity_answer() -> Vec<u8> {
        let mut r = Tlv::primitive(Tag::from_u8(0x45), CIN.to_vec()).to_bytes();
        r.extend_from_slice(&[0x90, 0x00]);
        r
    }

    /// Drives the identity stage; returns the session after it.
    fn identified(url: &str) -> RelaySession {
        let mut s = RelaySession::new(url, RetryPolicy::default()).unwrap();
        assert_eq!(s.phase(), Phase::Identity);
        assert_eq!(s.action(), Action::Transmit(&SELECT_DEFAULT));
        s.card_response(&[0x6F, 0x00, 0x90, 0x00]);
        assert_eq!(s.action(), Action::Transmit(&GET_CHIP_IDENTITY));
        s.card_response(&identity_answer());
        assert_eq!(s.chip(), Some("4B0E1D0676EE3C5E"));
        s
    }

    fn run_all(s: &mut RelaySession, answer: &[u8]) -> usize {
        let mut n = 0;
        while let Action::Transmit(_) = s.action() {
            s.card_response(answer);
            n += 1;
        }
        n
    }

    fn posted(s: &RelaySession) -> String {
        match s.action() {
            Action::Post { url, body } => {
                assert_eq!(url, URL);
                body.to_string()
            }
            other => panic!("{other:?}"),
        }
    }

    fn answer(s: &mut RelaySession, a: &RelayAnswer) {
        s.http_response(200, serde_json::to_string(a).unwrap().as_bytes());
    }

    #[test]
    fn identity_commands_are_the_iso_ones() {
        assert_eq!(
            Command::new(0x00, 0xA4, 0x04, 0x00)
                .with_le(256)
                .to_bytes()
                .unwrap(),
            SELECT_DEFAULT
        );
        assert_eq!(
            Command::new(0x80, 0xCA, 0x00, 0x45)
                .with_le(256)
                .to_bytes()
                .unwrap(),
            GET_CHIP_IDENTITY
        );
        assert_eq!(
            parse_chip_identity(&identity_answer()).unwrap(),
            "4B0E1D0676EE3C5E"
        );
        assert_eq!(
            parse_chip_identity(&[0x6A, 0x88]),
            Err(ClientError::NoChipIdentity(Some(
                StatusWord::ReferencedDataNotFound
            )))
        );
        assert_eq!(
            parse_chip_identity(&[0x46, 0x01, 0x00, 0x90, 0x00]),
            Err(ClientError::NoChipIdentity(None))
        );
        assert_eq!(
            parse_chip_identity(&[0x45, 0x00, 0x90, 0x00]),
            Err(ClientError::NoChipIdentity(None))
        );
        assert_eq!(parse_chip_identity(&[0x90]), Err(ClientError::CardResponse));
    }

    #[test]
    fn a_script_in_the_launch_url_takes_one_post() {
        let launch = Launch {
            url: URL.into(),
            script: Some(script(1, 3)),
        };
        let mut s = identified(&launch.to_url());
        assert_eq!(s.phase(), Phase::Script { step: 1, apdus: 3 });
        assert_eq!(run_all(&mut s, &[0x90, 0x00]), 3);
        assert_eq!(s.phase(), Phase::Report { step: 1 });
        let report: RelayReport = serde_json::from_str(&posted(&s)).unwrap();
        assert_eq!(report.rapdus.len(), 3);
        assert_eq!(report.chip.as_deref(), Some("4B0E1D0676EE3C5E"));
        answer(&mut s, &RelayAnswer::Result("a.b.c".into()));
        assert_eq!(s.action(), Action::Done("a.b.c"));
        assert_eq!((s.posts(), s.scripts()), (1, 1));
        // Late inputs change nothing.
        s.card_response(&[0x90, 0x00]);
        assert_eq!(s.action(), Action::Done("a.b.c"));
    }

    #[test]
    fn without_a_script_a_hello_comes_first() {
        let mut s = identified(URL);
        assert_eq!(s.phase(), Phase::Hello);
        let hello: ChipHello = serde_json::from_str(&posted(&s)).unwrap();
        assert_eq!(hello.chip, "4B0E1D0676EE3C5E");
        answer(&mut s, &RelayAnswer::Script(script(1, 2)));
        run_all(&mut s, &[0x90, 0x00]);
        answer(&mut s, &RelayAnswer::Script(script(2, 1)));
        run_all(&mut s, &[0x90, 0x00]);
        let report: RelayReport = serde_json::from_str(&posted(&s)).unwrap();
        assert_eq!(report.step, 2);
        answer(&mut s, &RelayAnswer::Result("t".into()));
        assert_eq!(s.action(), Action::Done("t"));
        assert_eq!((s.posts(), s.scripts()), (3, 2));
    }

    #[test]
    fn a_failed_gate_stops_the_script() {
        let mut s = identified(URL);
        answer(&mut s, &RelayAnswer::Script(script(1, 4)));
        assert_eq!(run_all(&mut s, &[0x69, 0x82]), 1);
        let report: RelayReport = serde_json::from_str(&posted(&s)).unwrap();
        assert_eq!(report.rapdus, vec![vec![0x69, 0x82]]);
    }

    #[test]
    fn a_removed_card_reports_what_was_answered() {
        let mut s = identified(URL);
        answer(&mut s, &RelayAnswer::Script(script(1, 4)));
        s.card_response(&[0x90, 0x00]);
        s.card_removed();
        let report: RelayReport = serde_json::from_str(&posted(&s)).unwrap();
        assert_eq!(report.rapdus.len(), 1);
        // Before any script, a missing card fails the run.
        let mut s = RelaySession::new(URL, RetryPolicy::default()).unwrap();
        s.card_removed();
        assert_eq!(s.action(), Action::Failed(&ClientError::Card));
        assert_eq!(ClientError::Card.code(), "card_error");
    }

    #[test]
    fn a_card_error_fails_the_run() {
        let mut s = identified(URL);
        answer(&mut s, &RelayAnswer::Script(script(1, 4)));
        s.card_failed();
        assert_eq!(s.action(), Action::Failed(&ClientError::Card));
        let mut s = RelaySession::new(URL, RetryPolicy::default()).unwrap();
        s.card_response(&[0x90]);
        assert_eq!(s.action(), Action::Failed(&ClientError::CardResponse));
        let mut s = RelaySession::new(URL, RetryPolicy::default()).unwrap();
        s.card_response(&[0x90, 0x00]);
        s.card_response(&[0x6D, 0x00]);
        assert_eq!(
            s.action().clone_failed().unwrap().code(),
            "no_chip_identity"
        );
    }

    #[test]
    fn chip_busy_is_waited_for_then_refused() {
        let policy = RetryPolicy {
            network: 0,
            busy: 2,
        };
        let mut s = RelaySession::new(URL, policy).unwrap();
        s.card_response(&[0x90, 0x00]);
        s.card_response(&identity_answer());
        let busy = br#"{"error":"chip_busy","message":"wait"}"#;
        for millis in [100, 200] {
            s.http_response(409, busy);
            assert_eq!(s.action(), Action::Wait { millis });
            assert_eq!(s.phase(), Phase::Waiting { busy: true });
            s.waited();
            assert_eq!(s.phase(), Phase::Hello);
        }
        s.http_response(409, busy);
        assert_eq!(
            s.action(),
            Action::Failed(&ClientError::Refused {
                status: 409,
                code: "chip_busy".into(),
                message: "wait".into()
            })
        );
        assert_eq!(s.posts(), 3);
    }

    #[test]
    fn an_unreachable_server_is_retried_then_given_up() {
        let policy = RetryPolicy {
            network: 3,
            busy: 0,
        };
        let mut s = RelaySession::new(URL, policy).unwrap();
        s.card_response(&[0x90, 0x00]);
        s.card_response(&identity_answer());
        let body = posted(&s);
        for millis in [100, 200, 300] {
            s.network_failed();
            assert_eq!(s.action(), Action::Wait { millis });
            s.waited();
            assert_eq!(posted(&s), body, "the same message is sent again");
        }
        // A gateway error counts as unreachable.
        s.http_response(503, b"<html>");
        assert_eq!(s.action(), Action::Failed(&ClientError::Network));
        assert_eq!(ClientError::Network.code(), "fetch_failed");
        assert_eq!(s.posts(), 4);
        assert_eq!(RetryPolicy::delay_ms(50), 1000);
    }

    #[test]
    fn refusals_and_odd_answers() {
        let refused = |status: u16, body: &[u8]| {
            let mut s = identified(URL);
            s.http_response(status, body);
            match s.action() {
                Action::Failed(e) => e.clone(),
                other => panic!("{other:?}"),
            }
        };
        let e = refused(410, br#"{"error":"launch_used","message":"no"}"#);
        assert_eq!(e.code(), "launch_used");
        assert_eq!(e.to_string(), "the server refused (410): launch_used: no");
        assert_eq!(refused(500, b"oops").code(), "server_error");
        assert_eq!(
            refused(400, br#"{"error":"<script>","message":"x"}"#).code(),
            "server_error"
        );
        assert_eq!(refused(200, b"{}"), ClientError::UnexpectedAnswer);
        assert_eq!(refused(200, b"not json"), ClientError::UnexpectedAnswer);
        assert_eq!(
            refused(200, &vec![b' '; MAX_ANSWER + 1]),
            ClientError::UnexpectedAnswer
        );
        let bad = RelayScript {
            step: 1,
            apdus: vec![ScriptApdu {
                capdu: vec![0],
                stop_unless_ok: false,
            }],
        };
        let body = serde_json::to_string(&RelayAnswer::Script(bad)).unwrap();
        assert_eq!(refused(200, body.as_bytes()), ClientError::InvalidScript);
    }

    #[test]
    fn scripts_are_bounded() {
        let mut s = identified(URL);
        for step in 1..=MAX_EXCHANGES as u32 {
            answer(&mut s, &RelayAnswer::Script(script(step, 1)));
            run_all(&mut s, &[0x90, 0x00]);
        }
        answer(&mut s, &RelayAnswer::Script(script(99, 1)));
        assert_eq!(s.action(), Action::Failed(&ClientError::TooManyExchanges));
        // The last allowed script's answer may still be the result.
        let mut s = identified(URL);
        for step in 1..=MAX_EXCHANGES as u32 {
            answer(&mut s, &RelayAnswer::Script(script(step, 1)));
            run_all(&mut s, &[0x90, 0x00]);
        }
        answer(&mut s, &RelayAnswer::Result("r".into()));
        assert_eq!(s.action(), Action::Done("r"));
    }

    #[test]
    fn launch_urls_are_checked() {
        for url in [
            "",
            "launch/abc",
            "ftp://s.test/launch/abc",
            "https://",
            "https:///launch",
            "https://s.test/launch/a b",
            "https://s.test/launch/abc#script=%%",
            "https://s.test/launch/abc#other=1",
        ] {
            assert_eq!(
                RelaySession::new(url, RetryPolicy::default()).unwrap_err(),
                ClientError::InvalidLaunchUrl,
                "{url}"
            );
        }
        assert!(
            RelaySession::new("http://127.0.0.1:8080/launch/x", RetryPolicy::default()).is_ok()
        );
    }

    #[test]
    fn inputs_out_of_order_fail_the_run() {
        let mut s = RelaySession::new(URL, RetryPolicy::default()).unwrap();
        s.http_response(200, b"{}");
        assert_eq!(s.action(), Action::Failed(&ClientError::OutOfOrder));
        let mut s = identified(URL);
        s.card_response(&[0x90, 0x00]);
        assert_eq!(s.action(), Action::Failed(&ClientError::OutOfOrder));
        let mut s = identified(URL);
        s.waited();
        assert_eq!(s.action(), Action::Failed(&ClientError::OutOfOrder));
        // The launch token never shows in Debug.
        let text = alloc::format!("{:?}", identified(URL));
        assert!(!text.contains("abc"), "{text}");
    }

    impl Action<'_> {
        fn clone_failed(&self) -> Option<ClientError> {
            match self {
                Action::Failed(e) => Some((*e).clone()),
                _ => None,
            }
        }
    }
}
