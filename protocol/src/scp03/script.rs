//! One-round-trip scripts (GPC Amendment D §3, §6.2.2.1): in pseudo-random mode the host
//! predicts the card challenge from the sequence counter, so it can build INITIALIZE
//! UPDATE, EXTERNAL AUTHENTICATE and every wrapped command before the card answers
//! anything, and check all the answers afterwards.
//!
//! For the server: keep the counter the card last reported; build a [`Script`] for
//! `counter.next()`; the relay runs [`Script::commands`] (after SELECT of the security
//! domain) and returns every response; [`ScriptVerifier::verify`] checks them. If the card was
//! ahead, `verify` answers [`Scp03Error::CounterOutOfStep`] with the card's authenticated
//! counter; build a second script for `actual_counter.next()`. Building is deterministic, so
//! instead of keeping the verifier the server may store the inputs (host challenge, counter,
//! level, commands) and rebuild it.

use alloc::vec::Vec;

use super::channel::{Channel, CommandResult, ResponseContext};
use super::crypto::ct_eq;
use super::error::Scp03Error;
use super::initialize_update::{
    CardCryptogramVerified, Expectation, InitializeUpdateResponse, authenticate_card,
    initialize_update,
};
use super::keys::{DERIVE_HOST_CRYPTOGRAM, SessionKeys, StaticKeys};
use super::params::{Aid, Challenge, ChallengeMode, ScpOptions, SecurityLevel, SequenceCounter};
use crate::apdu::{Command, Response, StatusWord};

/// What the host knows of the card's security domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptTarget {
    /// The security domain's AID (context of the pseudo-random challenge, §6.2.2.1).
    pub aid: Aid,
    /// The key version number to use (not `00`: the host must know which keys).
    pub kvn: u8,
    /// The card's "i" parameter (§5.1).
    pub options: ScpOptions,
    /// The key diversification data to require in the response, if known.
    pub key_diversification_data: Option<[u8; 10]>,
}

/// How the verifier starts.
#[derive(Clone, Debug)]
enum Start {
    /// The script begins with INITIALIZE UPDATE whose answer was predicted.
    Predicted { counter: SequenceCounter },
    /// The script begins with EXTERNAL AUTHENTICATE; the card's INITIALIZE UPDATE answer,
    /// with this cryptogram, was checked when building.
    Authenticated { card_cryptogram: Challenge },
}

/// A whole script and the means to check its answers.
#[derive(Debug)]
pub struct Script {
    commands: Vec<Command>,
    verifier: ScriptVerifier,
}

impl Script {
    /// Builds INITIALIZE UPDATE, EXTERNAL AUTHENTICATE and every wrapped command, predicting
    /// that the card will answer INITIALIZE UPDATE with sequence counter `expected_counter`
    /// (the last counter seen, plus one) and hence the card challenge KDF(Key-ENC, `02`,
    /// counter ‖ AID) (§6.2.2.1).
    ///
    /// The host challenge must be fresh for every script (use [`Challenge::random`]): with a
    /// predictable card challenge it is what keeps session keys unique.
    pub fn predict(
        keys: &StaticKeys,
        target: &ScriptTarget,
        expected_counter: SequenceCounter,
        host_challenge: Challenge,
        level: SecurityLevel,
        commands: &[Command],
    ) -> Result<Self, Scp03Error> {
        if target.options.challenge != ChallengeMode::PseudoRandom {
            return Err(Scp03Error::ChallengeNotPredictable);
        }
        let s_mode = target.options.s_mode;
        if host_challenge.mode() != s_mode {
            return Err(Scp03Error::InvalidChallengeLength {
                len: host_challenge.as_bytes().len(),
            });
        }
        let card_challenge = keys.pseudo_random_challenge(s_mode, expected_counter, &target.aid)?;
        let mut script = Self::build(
            keys,
            target,
            host_challenge,
            card_challenge,
            level,
            commands,
            Start::Predicted {
                counter: expected_counter,
            },
        )?;
        script
            .commands
            .insert(0, initialize_update(target.kvn, &host_challenge));
        Ok(script)
    }

    /// Builds EXTERNAL AUTHENTICATE and every wrapped command from the card's actual
    /// INITIALIZE UPDATE response, after checking it and the card cryptogram: the second
    /// round trip of random mode, or a relay that pauses after INITIALIZE UPDATE.
    pub fn after_initialize_update(
        keys: &StaticKeys,
        target: &ScriptTarget,
        host_challenge: Challenge,
        initialize_update_response: &Response,
        level: SecurityLevel,
        commands: &[Command],
    ) -> Result<Self, Scp03Error> {
        let info = InitializeUpdateResponse::from_response(initialize_update_response)?;
        expectation(target, host_challenge).check(keys, &info)?;
        authenticate_card(
            keys,
            &host_challenge,
            &info.card_challenge,
            &info.card_cryptogram,
        )?;
        Self::build(
            keys,
            target,
            host_challenge,
            info.card_challenge,
            level,
            commands,
            Start::Authenticated {
                card_cryptogram: info.card_cryptogram,
            },
        )
    }

    fn build(
        keys: &StaticKeys,
        target: &ScriptTarget,
        host_challenge: Challenge,
        card_challenge: Challenge,
        level: SecurityLevel,
        commands: &[Command],
        start: Start,
    ) -> Result<Self, Scp03Error> {
        if !target.options.supports(level) {
            return Err(Scp03Error::LevelNotSupported {
                level: level.to_u8(),
            });
        }
        let session = SessionKeys::derive(keys, &host_challenge, &card_challenge)?;
        let host_cryptogram =
            session.cryptogram(DERIVE_HOST_CRYPTOGRAM, &host_challenge, &card_challenge);
        let mut channel = Channel::new(session, target.options.s_mode, level);
        let mut out = Vec::with_capacity(commands.len() + 2);
        out.push(channel.external_authenticate(host_cryptogram.as_bytes()));
        let mut contexts = Vec::with_capacity(commands.len());
        for command in commands {
            let (wrapped, context) = channel.wrap_command(command)?;
            out.push(wrapped);
            contexts.push(context);
        }
        Ok(Self {
            commands: out,
            verifier: ScriptVerifier {
                target: target.clone(),
                host_challenge,
                card_challenge,
                level,
                start,
                contexts,
            },
        })
    }

    /// The command APDUs, in order: INITIALIZE UPDATE (for [`Script::predict`]), EXTERNAL
    /// AUTHENTICATE, then one wrapped command per plain command.
    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// The command APDUs encoded.
    pub fn to_bytes(&self) -> Result<Vec<Vec<u8>>, Scp03Error> {
        self.commands
            .iter()
            .map(|c| c.to_bytes().map_err(Scp03Error::from))
            .collect()
    }

    /// The verifier for the responses.
    pub fn verifier(&self) -> &ScriptVerifier {
        &self.verifier
    }

    /// Splits into commands and verifier.
    pub fn into_parts(self) -> (Vec<Command>, ScriptVerifier) {
        (self.commands, self.verifier)
    }
}

fn expectation(target: &ScriptTarget, host_challenge: Challenge) -> Expectation<'_> {
    Expectation {
        kvn: target.kvn,
        s_mode: host_challenge.mode(),
        options: Some(target.options),
        key_diversification_data: target.key_diversification_data.as_ref(),
        aid: Some(&target.aid),
    }
}

/// The verified answers to a script.
#[derive(Debug)]
pub struct ScriptOutcome {
    /// One entry per plain command, in order: the plaintext response, or what went wrong
    /// at that position ([`Scp03Error::ResponseMissing`],
    /// [`Scp03Error::ResponseOutOfOrder`], [`Scp03Error::RMacMismatch`], ...).
    pub results: Vec<Result<CommandResult, Scp03Error>>,
    /// Responses beyond the script's commands (a misbehaving relay); ignored.
    pub extra_responses: usize,
    /// The card was authenticated.
    pub proof: CardCryptogramVerified,
}

/// Checks the card's answers to a [`Script`]. Holds no secret: it keeps the challenges,
/// the level and each command's MAC chaining value and counter, and re-derives the session
/// keys from the static keys when verifying.
#[derive(Clone, Debug)]
pub struct ScriptVerifier {
    target: ScriptTarget,
    host_challenge: Challenge,
    card_challenge: Challenge,
    level: SecurityLevel,
    start: Start,
    contexts: Vec<ResponseContext>,
}

impl ScriptVerifier {
    /// How many plain commands the script wraps.
    pub fn command_count(&self) -> usize {
        self.contexts.len()
    }

    /// Checks the responses in the order of [`Script::commands`].
    ///
    /// The handshake must be right or the whole script fails: INITIALIZE UPDATE `9000` with
    /// the predicted counter, challenge and a verifying card cryptogram (otherwise
    /// [`Scp03Error::CounterOutOfStep`] when the card authenticated itself with another
    /// counter, or the precise mismatch), then EXTERNAL AUTHENTICATE `9000`
    /// ([`Scp03Error::HostCryptogramRejected`] for `6300`). After that each command gets its
    /// own result.
    pub fn verify(
        &self,
        keys: &StaticKeys,
        responses: &[Response],
    ) -> Result<ScriptOutcome, Scp03Error> {
        let mut rest = responses;
        let proof = match &self.start {
            Start::Predicted { counter } => {
                let (first, tail) = rest.split_first().ok_or(Scp03Error::ResponseMissing)?;
                rest = tail;
                self.check_initialize_update(keys, *counter, first)?
            }
            Start::Authenticated { card_cryptogram } => {
                authenticate_card(
                    keys,
                    &self.host_challenge,
                    &self.card_challenge,
                    card_cryptogram,
                )?
                .1
            }
        };
        let (ea, tail) = rest.split_first().ok_or(Scp03Error::ResponseMissing)?;
        rest = tail;
        match ea.sw {
            StatusWord::Ok if ea.data.is_empty() => {}
            StatusWord::AuthenticationFailed => return Err(Scp03Error::HostCryptogramRejected),
            sw => return Err(Scp03Error::UnexpectedStatus { sw }),
        }
        let session = SessionKeys::derive(keys, &self.host_challenge, &self.card_challenge)?;
        let channel = Channel::new(session, self.target.options.s_mode, self.level);
        let results = self
            .contexts
            .iter()
            .enumerate()
            .map(|(position, context)| {
                let response = rest.get(position).ok_or(Scp03Error::ResponseMissing)?;
                match channel.unwrap_response(context, response) {
                    Err(Scp03Error::RMacMismatch) => Err(self
                        .contexts
                        .iter()
                        .position(|other| channel.unwrap_response(other, response).is_ok())
                        .map_or(Scp03Error::RMacMismatch, |belongs_to| {
                            Scp03Error::ResponseOutOfOrder { belongs_to }
                        })),
                    other => other,
                }
            })
            .collect();
        Ok(ScriptOutcome {
            results,
            extra_responses: rest.len().saturating_sub(self.contexts.len()),
            proof,
        })
    }

    fn check_initialize_update(
        &self,
        keys: &StaticKeys,
        expected_counter: SequenceCounter,
        response: &Response,
    ) -> Result<CardCryptogramVerified, Scp03Error> {
        let info = InitializeUpdateResponse::from_response(response)?;
        // KVN, "i", key diversification data, and the challenge against the card's counter.
        expectation(&self.target, self.host_challenge).check(keys, &info)?;
        let actual =
            info.sequence_counter
                .ok_or(Scp03Error::MalformedInitializeUpdateResponse {
                    len: response.data.len(),
                })?;
        // The card must prove the counter before we report it.
        let (_, proof) = authenticate_card(
            keys,
            &self.host_challenge,
            &info.card_challenge,
            &info.card_cryptogram,
        )?;
        if actual != expected_counter {
            return Err(Scp03Error::CounterOutOfStep {
                expected: expected_counter,
                actual_counter: actual,
            });
        }
        if !ct_eq(
            self.card_challenge.as_bytes(),
            info.card_challenge.as_bytes(),
        ) {
            return Err(Scp03Error::CardChallengeMismatch);
        }
        Ok(proof)
    }
}
