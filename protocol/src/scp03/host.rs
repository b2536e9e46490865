//! The host (off-card entity) as a sans-IO state machine: each state consumes itself and one
//! response and returns the next (GPC Amendment D §5.2, Figure 5-1).
//!
//! [`InitializeUpdateSent`] → [`CardAuthenticated`] → [`ExternalAuthenticateSent`] →
//! [`SecureChannel`]. Only [`InitializeUpdateSent::handle_response`] can produce the
//! [`CardCryptogramVerified`] proof, and a [`SecureChannel`] cannot be built without it.

use alloc::vec::Vec;
use core::fmt;

use super::channel::{Channel, CommandResult, ResponseContext};
use super::error::Scp03Error;
use super::initialize_update::{
    CardCryptogramVerified, Expectation, InitializeUpdateResponse, authenticate_card,
    initialize_update,
};
use super::keys::{DERIVE_HOST_CRYPTOGRAM, SessionKeys, StaticKeys};
use super::params::{Aid, Challenge, ScpOptions, SecurityLevel};
use crate::apdu::{Command, Response, StatusWord};

/// The host has sent (or is about to send) INITIALIZE UPDATE.
#[derive(Debug)]
pub struct InitializeUpdateSent {
    kvn: u8,
    host_challenge: Challenge,
    options: Option<ScpOptions>,
    aid: Option<Aid>,
    key_diversification_data: Option<[u8; 10]>,
}

impl InitializeUpdateSent {
    /// Starts a session with key version `kvn` (`00`: the card chooses) and a fresh host
    /// challenge, whose length (8 or 16) selects S8 or S16. Send [`Self::command`].
    pub fn new(kvn: u8, host_challenge: Challenge) -> Self {
        Self {
            kvn,
            host_challenge,
            options: None,
            aid: None,
            key_diversification_data: None,
        }
    }

    /// Requires the card's "i" parameter to be exactly `options`.
    pub fn expect_options(mut self, options: ScpOptions) -> Self {
        self.options = Some(options);
        self
    }

    /// Names the security domain's AID, so that a pseudo-random card challenge is checked
    /// against the sequence counter (§6.2.2.1).
    pub fn expect_aid(mut self, aid: Aid) -> Self {
        self.aid = Some(aid);
        self
    }

    /// Requires this key diversification data.
    pub fn expect_key_diversification_data(mut self, kdd: [u8; 10]) -> Self {
        self.key_diversification_data = Some(kdd);
        self
    }

    /// The INITIALIZE UPDATE command (§7.1.1.2).
    pub fn command(&self) -> Command {
        initialize_update(self.kvn, &self.host_challenge)
    }

    /// Checks the card's answer: status `9000`, the layout of Table 7-3, KVN (§7.1.1.3), "i"
    /// (§5.1), and the card cryptogram in constant time (§6.2.2.2). `keys` is the key set of
    /// the KVN asked for (for KVN `00`, of the KVN the card will name).
    pub fn handle_response(
        self,
        keys: &StaticKeys,
        response: &Response,
    ) -> Result<CardAuthenticated, Scp03Error> {
        let info = InitializeUpdateResponse::from_response(response)?;
        Expectation {
            kvn: self.kvn,
            s_mode: self.host_challenge.mode(),
            options: self.options,
            key_diversification_data: self.key_diversification_data.as_ref(),
            aid: self.aid.as_ref(),
        }
        .check(keys, &info)?;
        let (session, proof) = authenticate_card(
            keys,
            &self.host_challenge,
            &info.card_challenge,
            &info.card_cryptogram,
        )?;
        Ok(CardAuthenticated {
            session,
            host_challenge: self.host_challenge,
            info,
            proof,
        })
    }
}

/// The card proved knowledge of the keys; the host can now authenticate itself.
pub struct CardAuthenticated {
    session: SessionKeys,
    host_challenge: Challenge,
    info: InitializeUpdateResponse,
    proof: CardCryptogramVerified,
}

impl fmt::Debug for CardAuthenticated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardAuthenticated")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl CardAuthenticated {
    /// What the card said in its INITIALIZE UPDATE response.
    pub fn card_info(&self) -> &InitializeUpdateResponse {
        &self.info
    }

    /// Builds EXTERNAL AUTHENTICATE for `level` (§7.1.2): host cryptogram (§6.2.2.3) and
    /// C-MAC. Refused if the level needs R-MAC or R-ENC the card does not offer (§5.1).
    pub fn external_authenticate(
        self,
        level: SecurityLevel,
    ) -> Result<(ExternalAuthenticateSent, Command), Scp03Error> {
        if !self.info.options.supports(level) {
            return Err(Scp03Error::LevelNotSupported {
                level: level.to_u8(),
            });
        }
        let host_cryptogram = self.session.cryptogram(
            DERIVE_HOST_CRYPTOGRAM,
            &self.host_challenge,
            &self.info.card_challenge,
        );
        let mut channel = Channel::new(self.session, self.info.options.s_mode, level);
        let command = channel.external_authenticate(host_cryptogram.as_bytes());
        Ok((
            ExternalAuthenticateSent {
                channel,
                proof: self.proof,
            },
            command,
        ))
    }
}

/// EXTERNAL AUTHENTICATE is on its way.
#[derive(Debug)]
pub struct ExternalAuthenticateSent {
    channel: Channel,
    proof: CardCryptogramVerified,
}

impl ExternalAuthenticateSent {
    /// `9000` opens the channel; `6300` means the card refused the host cryptogram
    /// (§7.1.2.7).
    pub fn handle_response(self, response: &Response) -> Result<SecureChannel, Scp03Error> {
        match response.sw {
            StatusWord::Ok if response.data.is_empty() => Ok(SecureChannel {
                channel: self.channel,
                _proof: self.proof,
            }),
            StatusWord::AuthenticationFailed => Err(Scp03Error::HostCryptogramRejected),
            sw => Err(Scp03Error::UnexpectedStatus { sw }),
        }
    }
}

/// The response to one wrapped command is awaited; hand it back to
/// [`SecureChannel::unwrap`] with the response. Not `Clone`: one response per command.
pub struct PendingResponse {
    context: ResponseContext,
}

impl fmt::Debug for PendingResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingResponse")
            .field("counter", &self.context.counter)
            .finish_non_exhaustive()
    }
}

/// An open secure channel on the host: wraps commands, unwraps responses.
#[derive(Debug)]
pub struct SecureChannel {
    channel: Channel,
    _proof: CardCryptogramVerified,
}

impl SecureChannel {
    /// The session's security level.
    pub fn level(&self) -> SecurityLevel {
        self.channel.level
    }

    /// Wraps a plain command: C-ENC of the data when the level has C-DECRYPTION (§6.2.6,
    /// counter from 1, padding `80 00..`, no encryption of an empty data field), then the
    /// C-MAC over the chaining value and the modified header (§6.2.4: class byte with `04`,
    /// Lc including the MAC). `Le`, if present, becomes `00` (or `00 00` in extended form).
    ///
    /// The plain class byte must not indicate secure messaging already.
    pub fn wrap(&mut self, command: &Command) -> Result<(Command, PendingResponse), Scp03Error> {
        let (wrapped, context) = self.channel.wrap_command(command)?;
        Ok((wrapped, PendingResponse { context }))
    }

    /// Checks (R-MAC, §6.2.5) and decrypts (R-ENC, §6.2.7) the response to the command
    /// `pending` came from.
    pub fn unwrap(
        &self,
        pending: PendingResponse,
        response: &Response,
    ) -> Result<CommandResult, Scp03Error> {
        self.channel.unwrap_response(&pending.context, response)
    }

    /// Wraps a sequence of commands, for callers that collect responses later.
    pub fn wrap_all(
        &mut self,
        commands: &[Command],
    ) -> Result<Vec<(Command, PendingResponse)>, Scp03Error> {
        commands.iter().map(|c| self.wrap(c)).collect()
    }
}
