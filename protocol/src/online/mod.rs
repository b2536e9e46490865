//! The online flow's protocol logic (DESIGN.md, "The online flow"), for the server to drive
//! and the relay to carry: plan a verified command into chip commands ([`plan`]), build one
//! relay script per exchange from the predicted SCP03 card challenge ([`Transaction`]),
//! check the chip's answers and turn them into result entries ([`outcome`]).
//!
//! In pseudo-random mode the whole transaction is one script — SELECT, INITIALIZE UPDATE,
//! EXTERNAL AUTHENTICATE and every wrapped command — so the relay needs one exchange with the
//! server. When the chip's counter is out of step the card refuses EXTERNAL AUTHENTICATE; its
//! genuine INITIALIZE UPDATE answer tells the real counter and a second script follows. A
//! random-challenge chip needs an exchange for INITIALIZE UPDATE first.
//!
//! The [`Transaction`] keeps no secrets and no I/O: the caller passes the chip's keys, a fresh
//! host challenge and the relay's report at each step, and persists what it must.

pub mod client;
pub mod outcome;
pub mod plan;
pub mod relay;

pub use client::{Action, ClientError, Phase, RelaySession, RetryPolicy};
pub use plan::{PlanError, Segment, Step, Target, plan};
pub use relay::{
    ChipHello, Launch, RelayAnswer, RelayError, RelayReport, RelayRun, RelayScript, ScriptApdu,
};

use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::apdu::{Response, StatusWord};
use crate::envelope::{OpResult, Status};
use crate::scp03::{
    Aid, Challenge, ChallengeMode, Scp03Error, Script, ScriptTarget, SecurityLevel,
    SequenceCounter, StaticKeys, initialize_update, select_by_aid,
};

/// What the server knows of a chip's issuer security domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChipTarget {
    /// AID, KVN, "i" parameter and KDD, as registered.
    pub target: ScriptTarget,
    /// The last sequence counter the chip reported (pseudo-random mode).
    pub counter: SequenceCounter,
}

/// The level every session uses: the strongest the chip supports, with R-MAC at least, since
/// only R-MAC'd data is ever reported.
pub fn session_level(target: &ScriptTarget) -> Option<SecurityLevel> {
    [SecurityLevel::Full, SecurityLevel::CMacCDecRMac]
        .into_iter()
        .find(|l| target.options.supports(*l))
}

/// Why a transaction could not go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnlineError {
    /// The chip supports no level with R-MAC.
    NoRMac,
    /// Building the SCP03 script failed.
    Scp03(Scp03Error),
    /// The relay's report does not answer the current script.
    Relay(RelayError),
    /// A report arrived when no script was outstanding.
    NoScript,
}

impl OnlineError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoRMac => "chip_without_rmac",
            Self::Scp03(e) => e.code(),
            Self::Relay(RelayError::WrongStep) => "relay_wrong_step",
            Self::Relay(RelayError::TooLong) => "relay_too_long",
            Self::Relay(_) => "relay_malformed",
            Self::NoScript => "no_script",
        }
    }
}

impl From<Scp03Error> for OnlineError {
    fn from(e: Scp03Error) -> Self {
        Self::Scp03(e)
    }
}

impl From<RelayError> for OnlineError {
    fn from(e: RelayError) -> Self {
        Self::Relay(e)
    }
}

/// What the outstanding script does, as the inputs that rebuild it (building is deterministic,
/// so nothing but these needs to be stored between exchanges, and no verifier state).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum Pending {
    /// SELECT, INITIALIZE UPDATE (predicted), EXTERNAL AUTHENTICATE, wrapped commands.
    Predicted {
        expected: u32,
        #[serde(with = "crate::hex::serde")]
        host_challenge: Vec<u8>,
    },
    /// SELECT, INITIALIZE UPDATE only (random challenge).
    InitializeOnly {
        #[serde(with = "crate::hex::serde")]
        host_challenge: Vec<u8>,
    },
    /// EXTERNAL AUTHENTICATE and wrapped commands after a real INITIALIZE UPDATE.
    Authenticated {
        #[serde(with = "crate::hex::serde")]
        host_challenge: Vec<u8>,
        #[serde(with = "crate::hex::serde")]
        initialize_update: Vec<u8>,
    },
}

/// A transaction's progress, to store between relay exchanges (JSON through serde): with the
/// command's claims (from which the segments are planned again) it is all a server instance
/// needs to continue a transaction another instance started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionState {
    next: usize,
    results: Vec<OpResult>,
    step: u32,
    pending: Option<Pending>,
    out_of_step_retries: u8,
    exchanges: u32,
}

/// One transaction's progress through its segments (server side, sans-IO).
#[derive(Clone, Debug)]
pub struct Transaction {
    segments: Vec<Segment>,
    state: TransactionState,
}

/// The most second scripts one transaction may need for counters out of step.
const MAX_OUT_OF_STEP_RETRIES: u8 = 2;

impl Transaction {
    /// A transaction over planned segments for `op_count` operations.
    pub fn new(segments: Vec<Segment>, op_count: usize) -> Self {
        Self {
            segments,
            state: TransactionState {
                next: 0,
                results: (0..op_count).map(|_| outcome::not_run()).collect(),
                step: 0,
                pending: None,
                out_of_step_retries: 0,
                exchanges: 0,
            },
        }
    }

    /// Continues a stored transaction; `segments` must be planned from the same claims.
    pub fn resume(segments: Vec<Segment>, state: TransactionState) -> Self {
        Self { segments, state }
    }

    /// The state to store.
    pub fn state(&self) -> &TransactionState {
        &self.state
    }

    /// Whether every segment has been run (or the transaction gave up).
    pub fn is_done(&self) -> bool {
        self.state.pending.is_none() && self.state.next >= self.segments.len()
    }

    /// Relay exchanges so far.
    pub fn exchanges(&self) -> u32 {
        self.state.exchanges
    }

    /// The next script for the relay, or `None` when done. `host_challenge` must be fresh
    /// (random) for every call.
    pub fn next_script(
        &mut self,
        keys: &StaticKeys,
        chip: &ChipTarget,
        host_challenge: Challenge,
    ) -> Result<Option<RelayScript>, OnlineError> {
        if self.state.pending.is_some() {
            return Err(OnlineError::NoScript);
        }
        let Some(segment) = self.segments.get(self.state.next) else {
            return Ok(None);
        };
        let select = gate(select_apdu(segment)?);
        let (apdus, pending) = match chip.target.options.challenge {
            ChallengeMode::PseudoRandom => {
                let expected = chip
                    .counter
                    .next()
                    .ok_or(Scp03Error::SequenceCounterExhausted)?;
                let script = predicted(keys, chip, segment, expected, host_challenge)?;
                let mut apdus = alloc::vec![select];
                // INITIALIZE UPDATE and EXTERNAL AUTHENTICATE gate the rest.
                apdus.extend(script_apdus(script.commands(), 2)?);
                let pending = Pending::Predicted {
                    expected: expected.value(),
                    host_challenge: host_challenge.as_bytes().to_vec(),
                };
                (apdus, pending)
            }
            ChallengeMode::Random => {
                let iu = initialize_update(chip.target.kvn, &host_challenge)
                    .to_bytes()
                    .map_err(Scp03Error::from)?;
                let pending = Pending::InitializeOnly {
                    host_challenge: host_challenge.as_bytes().to_vec(),
                };
                (alloc::vec![select, gate(iu)], pending)
            }
        };
        self.state.step += 1;
        self.state.pending = Some(pending);
        Ok(Some(RelayScript {
            step: self.state.step,
            apdus,
        }))
    }

    /// Takes the relay's report for the outstanding script (the one [`Self::next_script`] or a
    /// [`Progress::Script`] gave). Never trusts the relay: every answer is checked against
    /// the script rebuilt from its stored inputs.
    pub fn handle_report(
        &mut self,
        keys: &StaticKeys,
        chip: &ChipTarget,
        script: &RelayScript,
        report: &RelayReport,
    ) -> Result<Progress, OnlineError> {
        let pending = self.state.pending.clone().ok_or(OnlineError::NoScript)?;
        let responses = report.responses_for(script)?;
        if script.step != self.state.step {
            return Err(OnlineError::Relay(RelayError::WrongStep));
        }
        self.state.pending = None;
        self.state.exchanges += 1;
        let Some(segment) = self.segments.get(self.state.next).cloned() else {
            return Err(OnlineError::NoScript);
        };
        // Scripts that open a session begin with SELECT; check it first.
        let rest: &[Response] = if matches!(pending, Pending::Authenticated { .. }) {
            &responses
        } else {
            let Some((select, rest)) = responses.split_first() else {
                return Ok(self.give_up(Progress::RelayLostCard));
            };
            if select.sw != StatusWord::Ok {
                return Ok(self.give_up(Progress::AppletMissing(select.sw)));
            }
            rest
        };
        match pending {
            Pending::Predicted {
                expected,
                host_challenge,
            } => {
                let expected =
                    SequenceCounter::new(expected).ok_or(Scp03Error::SequenceCounterExhausted)?;
                let host_challenge = Challenge::from_slice(&host_challenge)?;
                let script = predicted(keys, chip, &segment, expected, host_challenge)?;
                match script.verifier().verify(keys, rest) {
                    Ok(checked) => {
                        self.record(&segment, &checked.results);
                        Ok(Progress::Continue {
                            counter: Some(expected),
                        })
                    }
                    Err(Scp03Error::CounterOutOfStep { actual_counter, .. })
                        if self.state.out_of_step_retries < MAX_OUT_OF_STEP_RETRIES =>
                    {
                        // The card's INITIALIZE UPDATE answer was genuine (checked by
                        // `verify`): resynchronise; the next script is built again.
                        self.state.out_of_step_retries += 1;
                        Ok(Progress::Continue {
                            counter: Some(actual_counter),
                        })
                    }
                    Err(e) => Ok(self.give_up(Progress::ChannelFailed(e))),
                }
            }
            Pending::InitializeOnly { host_challenge } => {
                let Some(iu) = rest.first() else {
                    return Ok(self.give_up(Progress::RelayLostCard));
                };
                let challenge = Challenge::from_slice(&host_challenge)?;
                let script = match authenticated(keys, chip, &segment, challenge, iu) {
                    Ok(script) => script,
                    Err(OnlineError::Scp03(e)) => {
                        return Ok(self.give_up(Progress::ChannelFailed(e)));
                    }
                    Err(e) => return Err(e),
                };
                let apdus = script_apdus(script.commands(), 1)?;
                self.state.step += 1;
                self.state.pending = Some(Pending::Authenticated {
                    host_challenge,
                    initialize_update: iu.to_bytes(),
                });
                Ok(Progress::Script(RelayScript {
                    step: self.state.step,
                    apdus,
                }))
            }
            Pending::Authenticated {
                host_challenge,
                initialize_update,
            } => {
                let challenge = Challenge::from_slice(&host_challenge)?;
                let iu = Response::parse(&initialize_update).map_err(Scp03Error::from)?;
                let script = authenticated(keys, chip, &segment, challenge, &iu)?;
                match script.verifier().verify(keys, rest) {
                    Ok(checked) => {
                        self.record(&segment, &checked.results);
                        Ok(Progress::Continue { counter: None })
                    }
                    Err(e) => Ok(self.give_up(Progress::ChannelFailed(e))),
                }
            }
        }
    }

    fn record(
        &mut self,
        segment: &Segment,
        answers: &[Result<crate::scp03::CommandResult, Scp03Error>],
    ) {
        for (step, answer) in segment.steps.iter().zip(answers) {
            if let Some(slot) = self.state.results.get_mut(step.op) {
                *slot = outcome::op_result(step, answer.as_ref());
            }
        }
        self.state.next += 1;
    }

    fn give_up(&mut self, why: Progress) -> Progress {
        self.state.next = self.segments.len();
        self.state.pending = None;
        why
    }

    /// The transaction's status and per-operation results.
    pub fn finish(self) -> (Status, Vec<OpResult>) {
        (outcome::overall(&self.state.results), self.state.results)
    }
}

fn predicted(
    keys: &StaticKeys,
    chip: &ChipTarget,
    segment: &Segment,
    expected: SequenceCounter,
    host_challenge: Challenge,
) -> Result<Script, OnlineError> {
    let level = session_level(&chip.target).ok_or(OnlineError::NoRMac)?;
    Ok(Script::predict(
        keys,
        &chip.target,
        expected,
        host_challenge,
        level,
        &segment.commands(),
    )?)
}

fn authenticated(
    keys: &StaticKeys,
    chip: &ChipTarget,
    segment: &Segment,
    host_challenge: Challenge,
    initialize_update: &Response,
) -> Result<Script, OnlineError> {
    let level = session_level(&chip.target).ok_or(OnlineError::NoRMac)?;
    Ok(Script::after_initialize_update(
        keys,
        &chip.target,
        host_challenge,
        initialize_update,
        level,
        &segment.commands(),
    )?)
}

/// The script's commands as relay APDUs, the first `gates` of them gating the rest.
fn script_apdus(
    commands: &[crate::apdu::Command],
    gates: usize,
) -> Result<Vec<ScriptApdu>, OnlineError> {
    commands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let bytes = c.to_bytes().map_err(Scp03Error::from)?;
            Ok(if i < gates { gate(bytes) } else { free(bytes) })
        })
        .collect()
}

/// What happened with a report.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Progress {
    /// Ask [`Transaction::next_script`] for the next script (none when done). `counter` is the
    /// chip's sequence counter as now known: persist it.
    Continue {
        /// The counter to record, if it changed.
        counter: Option<SequenceCounter>,
    },
    /// Send this script next (random-challenge chips, after INITIALIZE UPDATE).
    Script(RelayScript),
    /// The applet is not on the chip; the transaction ends.
    AppletMissing(StatusWord),
    /// The relay returned no answer to SELECT; the transaction ends.
    RelayLostCard,
    /// The secure channel failed (card not authentic, tampered answers); the transaction ends.
    ChannelFailed(Scp03Error),
}

impl Progress {
    /// Why the transaction ended, as the stable `reason` of its result, when the report
    /// ended it early.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Self::Continue { .. } | Self::Script(_) => None,
            Self::AppletMissing(_) => Some("applet_missing"),
            Self::RelayLostCard => Some("card_lost"),
            Self::ChannelFailed(e) => Some(e.code()),
        }
    }
}

fn select_apdu(segment: &Segment) -> Result<Vec<u8>, OnlineError> {
    let aid = Aid::new(segment.target.aid())?;
    Ok(select_by_aid(&aid).to_bytes().map_err(Scp03Error::from)?)
}

fn gate(capdu: Vec<u8>) -> ScriptApdu {
    ScriptApdu {
        capdu,
        stop_unless_ok: true,
    }
}

fn free(capdu: Vec<u8>) -> ScriptApdu {
    ScriptApdu {
        capdu,
        stop_unless_ok: false,
    }
}

impl core::fmt::Display for OnlineError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Scp03(e) => write!(f, "secure channel: {e}"),
            Self::Relay(e) => write!(f, "relay: {e}"),
            Self::NoRMac => f.write_str("the chip supports no security level with R-MAC"),
            Self::NoScript => f.write_str("no script is outstanding"),
        }
    }
}

impl core::error::Error for OnlineError {}
