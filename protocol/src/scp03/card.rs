//! The card side: a security domain's SCP03 session, sans-IO (GPC Amendment D §5.2, §5.6,
//! §7.1).
//!
//! The virtual secure element owns one [`CardSession`] per logical channel and routes every
//! command APDU through it:
//!
//! - SELECT, card reset or power-off: [`CardSession::close`] (§5.6).
//! - `80 50` INITIALIZE UPDATE: [`CardSession::initialize_update`], with the key set of the KVN
//!   in P1 (`00`: the default set), the stored sequence counter and a random source. In
//!   pseudo-random mode the answer carries the incremented counter: **persist it before
//!   sending the response**, so a crash never reuses a card challenge.
//! - `84 82` EXTERNAL AUTHENTICATE: [`CardSession::external_authenticate`].
//! - anything else: [`CardSession::unwrap_command`] gives the plain command to execute, then
//!   [`CardSession::wrap_response`] protects its answer.
//!
//! Every error closes the session (it becomes *aborted*: further commands are refused until
//! SELECT or a new INITIALIZE UPDATE, §5.6); answer with `StatusWord::from(&error)`.

use core::fmt;

use rand_core::CryptoRngCore;

use super::channel::{Channel, received_cla};
use super::crypto::ct_eq;
use super::error::Scp03Error;
use super::initialize_update::{INS_INITIALIZE_UPDATE, InitializeUpdateResponse};
use super::keys::{DERIVE_CARD_CRYPTOGRAM, DERIVE_HOST_CRYPTOGRAM, SessionKeys, StaticKeys};
use super::params::{Aid, Challenge, ChallengeMode, ScpOptions, SecurityLevel, SequenceCounter};
use crate::apdu::{Command, Response, StatusWord};

/// A security domain's SCP03 configuration, as a card profile sets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardConfig {
    /// The security domain's AID: context of the pseudo-random challenge (§6.2.2.1).
    pub aid: Aid,
    /// Key version number of the key set.
    pub kvn: u8,
    /// Key diversification data returned in INITIALIZE UPDATE (§7.1.1.6).
    pub key_diversification_data: [u8; 10],
    /// The "i" parameter: S8/S16, challenge mode, R-MAC/R-ENC support (§5.1).
    pub options: ScpOptions,
    /// The weakest level EXTERNAL AUTHENTICATE may ask for; weaker ones get `6A86`.
    pub minimum_level: SecurityLevel,
}

/// The card's answer to INITIALIZE UPDATE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitializeUpdateAnswer {
    /// The response APDU to send.
    pub response: Response,
    /// In pseudo-random mode, the new sequence counter: persist it before sending.
    pub new_counter: Option<SequenceCounter>,
}

enum State {
    /// No session; commands pass without checks (§5.6, NO_SECURITY_LEVEL).
    Idle,
    /// A session failed in this application session: every command is refused (§5.6).
    Aborted,
    /// INITIALIZE UPDATE answered; EXTERNAL AUTHENTICATE expected.
    Authenticating {
        session: SessionKeys,
        config: CardConfig,
        host_challenge: Challenge,
        card_challenge: Challenge,
    },
    /// EXTERNAL AUTHENTICATE succeeded.
    Open(Channel),
}

/// One logical channel's SCP03 state on the card.
pub struct CardSession {
    state: State,
}

impl fmt::Debug for CardSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Idle => "idle",
            State::Aborted => "aborted",
            State::Authenticating { .. } => "authenticating",
            State::Open(_) => "open",
        };
        f.debug_struct("CardSession")
            .field("state", &state)
            .field("level", &self.security_level())
            .finish()
    }
}

impl Default for CardSession {
    fn default() -> Self {
        Self::new()
    }
}

impl CardSession {
    /// No session.
    pub fn new() -> Self {
        Self { state: State::Idle }
    }

    /// The level of the open session; `None` when none is open.
    pub fn security_level(&self) -> Option<SecurityLevel> {
        match &self.state {
            State::Open(channel) => Some(channel.level),
            _ => None,
        }
    }

    /// Whether a session failed and commands are being refused (§5.6).
    pub fn is_aborted(&self) -> bool {
        matches!(self.state, State::Aborted)
    }

    /// Terminates the session: SELECT, reset, power-off, channel close (§5.6).
    pub fn close(&mut self) {
        self.state = State::Idle;
    }

    /// Whether `command` is INITIALIZE UPDATE (class `80`-`83`, `C0`-`CF`, §7.1.1.2).
    pub fn is_initialize_update(command: &Command) -> bool {
        command.ins == INS_INITIALIZE_UPDATE && matches!(command.cla, 0x80..=0x83 | 0xC0..=0xCF)
    }

    /// Whether `command` is EXTERNAL AUTHENTICATE (class `84`-`87`, `E0`-`EF`, §7.1.2.2).
    pub fn is_external_authenticate(command: &Command) -> bool {
        command.ins == super::initialize_update::INS_EXTERNAL_AUTHENTICATE
            && matches!(command.cla, 0x84..=0x87 | 0xE0..=0xEF)
    }

    /// Answers INITIALIZE UPDATE (§7.1.1). Any previous session ends (§5.6).
    ///
    /// `counter` is the key set's stored sequence counter; in pseudo-random mode it is
    /// incremented, the new value is used for the card challenge (§6.2.2.1) and returned in
    /// [`InitializeUpdateAnswer::new_counter`]. In random mode the challenge comes from `rng`.
    pub fn initialize_update(
        &mut self,
        config: &CardConfig,
        keys: &StaticKeys,
        counter: SequenceCounter,
        rng: &mut impl CryptoRngCore,
        command: &Command,
    ) -> Result<InitializeUpdateAnswer, Scp03Error> {
        self.state = State::Idle;
        if !Self::is_initialize_update(command) {
            return Err(Scp03Error::ClassNotSupported);
        }
        // §7.1.1.3: KVN 00 means the default key set.
        if command.p1 != 0 && command.p1 != config.kvn {
            return Err(Scp03Error::KeyNotFound { kvn: command.p1 });
        }
        // §7.1.1.4: P2 is 00.
        if command.p2 != 0 {
            return Err(Scp03Error::IncorrectP1P2);
        }
        // §7.1.1.5: the host challenge has the mode's length.
        let s_mode = config.options.s_mode;
        if command.data.len() != s_mode.byte_len() {
            return Err(Scp03Error::WrongLength);
        }
        let host_challenge = Challenge::from_slice(&command.data)?;
        let (card_challenge, new_counter) = match config.options.challenge {
            ChallengeMode::PseudoRandom => {
                // §6.2.2.1: increment, use the new value; refuse at the maximum.
                let next = counter.next().ok_or(Scp03Error::SequenceCounterExhausted)?;
                (
                    keys.pseudo_random_challenge(s_mode, next, &config.aid)?,
                    Some(next),
                )
            }
            ChallengeMode::Random => (Challenge::random(s_mode, rng), None),
        };
        let session = SessionKeys::derive(keys, &host_challenge, &card_challenge)?;
        let card_cryptogram =
            session.cryptogram(DERIVE_CARD_CRYPTOGRAM, &host_challenge, &card_challenge);
        let data = InitializeUpdateResponse {
            key_diversification_data: config.key_diversification_data,
            kvn: config.kvn,
            options: config.options,
            card_challenge,
            card_cryptogram,
            sequence_counter: new_counter,
        }
        .to_bytes();
        self.state = State::Authenticating {
            session,
            config: config.clone(),
            host_challenge,
            card_challenge,
        };
        Ok(InitializeUpdateAnswer {
            response: Response::new(data, StatusWord::Ok),
            new_counter,
        })
    }

    /// Verifies EXTERNAL AUTHENTICATE (§7.1.2) given as received bytes: Lc (§7.1.2.5), host
    /// cryptogram (§6.2.2.3, `6300`), C-MAC with chaining value zero (§6.2.3, `6982`), then
    /// the level in P1 against the "i" parameter and the minimum (§7.1.2.3, `6A86`). Answers
    /// `9000` without R-MAC (§6.2.5) and opens the session; any failure aborts it.
    pub fn external_authenticate(&mut self, apdu: &[u8]) -> Result<Response, Scp03Error> {
        let state = core::mem::replace(&mut self.state, State::Aborted);
        let State::Authenticating {
            session,
            config,
            host_challenge,
            card_challenge,
        } = state
        else {
            return Err(Scp03Error::ExternalAuthenticateUnexpected);
        };
        let (command, form) = Command::parse_with_form(apdu)?;
        if !Self::is_external_authenticate(&command) {
            return Err(Scp03Error::ClassNotSupported);
        }
        if command.p2 != 0 {
            return Err(Scp03Error::IncorrectP1P2);
        }
        let s = config.options.s_mode.byte_len();
        if command.data.len() != 2 * s {
            return Err(Scp03Error::WrongLength);
        }
        let expected = session.cryptogram(DERIVE_HOST_CRYPTOGRAM, &host_challenge, &card_challenge);
        if !ct_eq(expected.as_bytes(), &command.data[..s]) {
            return Err(Scp03Error::HostCryptogramMismatch);
        }
        // The level is authenticated by the MAC only: parse it after the check. The channel
        // is built with the weakest level for the check and fixed right after.
        let mut channel = Channel::new(session, config.options.s_mode, SecurityLevel::CMac);
        channel.verify_external_authenticate_mac(&command, form)?;
        let level = SecurityLevel::from_u8(command.p1)?;
        if !config.options.supports(level) || !level.covers(config.minimum_level) {
            return Err(Scp03Error::LevelNotSupported { level: command.p1 });
        }
        channel.level = level;
        self.state = State::Open(channel);
        Ok(Response::status(StatusWord::Ok))
    }

    /// Unwraps a received command APDU for the application (§6.2.4, §6.2.6, §5.6).
    ///
    /// - Session open: the command must carry the session's protection: C-MAC over the
    ///   chaining value (a replayed, reordered or altered command fails), and under
    ///   C-DECRYPTION its data is decrypted (an encrypted lone padding block gives empty
    ///   data). The returned command has the secure messaging bit cleared.
    /// - No session: a command without secure messaging is returned as is, for the
    ///   application to apply its own rules ([`Self::security_level`] is `None`); one with
    ///   secure messaging is refused.
    /// - Session aborted: everything is refused until [`Self::close`] or INITIALIZE UPDATE.
    ///
    /// A failure aborts the session; answer `StatusWord::from(&error)`.
    pub fn unwrap_command(&mut self, apdu: &[u8]) -> Result<Command, Scp03Error> {
        let result = self.unwrap_inner(apdu);
        if result.is_err() && !matches!(self.state, State::Idle) {
            self.state = State::Aborted;
        }
        result
    }

    fn unwrap_inner(&mut self, apdu: &[u8]) -> Result<Command, Scp03Error> {
        match &mut self.state {
            State::Aborted => Err(Scp03Error::NoSession),
            State::Open(channel) => {
                let (command, form) = Command::parse_with_form(apdu)?;
                channel.unwrap_command(&command, form)
            }
            State::Idle | State::Authenticating { .. } => {
                // §5.6: the initiation was not completed; NO_SECURITY_LEVEL.
                self.state = State::Idle;
                let command = Command::parse(apdu)?;
                match received_cla(command.cla)? {
                    None => Ok(command),
                    Some(_) => Err(Scp03Error::NoSession),
                }
            }
        }
    }

    /// Protects the application's response (§6.2.7 R-ENC, then §6.2.5 R-MAC over the chaining
    /// value of the command just unwrapped). Error status words go bare. Outside an open
    /// session the response is returned unchanged.
    pub fn wrap_response(&self, response: Response) -> Response {
        match &self.state {
            State::Open(channel) => channel.wrap_response(response),
            _ => response,
        }
    }
}
