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

pub mod outcome;
pub mod plan;
pub mod relay;

pub use plan::{PlanError, Segment, Step, Target, plan};
pub use relay::{
    ChipHello, Launch, RelayAnswer, RelayError, RelayReport, RelayRun, RelayScript, ScriptApdu,
};

use alloc::vec::Vec;

use crate::apdu::{Response, StatusWord};
use crate::envelope::{OpResult, Status};
use crate::scp03::{
    Aid, Challenge, ChallengeMode, Scp03Error, Script, ScriptTarget, ScriptVerifier, SecurityLevel,
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

/// What the current script does.
#[derive(Clone, Debug)]
enum Pending {
    /// SELECT, INITIALIZE UPDATE (predicted), EXTERNAL AUTHENTICATE, wrapped commands.
    Predicted {
        verifier: ScriptVerifier,
        expected: SequenceCounter,
    },
    /// SELECT, INITIALIZE UPDATE only (random challenge).
    InitializeOnly { host_challenge: Challenge },
    /// EXTERNAL AUTHENTICATE and wrapped commands after a real INITIALIZE UPDATE.
    Authenticated { verifier: ScriptVerifier },
}

/// One transaction's progress through its segments (server side, sans-IO).
#[derive(Clone, Debug)]
pub struct Transaction {
    segments: Vec<Segment>,
    next: usize,
    results: Vec<OpResult>,
    step: u32,
    pending: Option<Pending>,
    out_of_step_retries: u8,
    exchanges: u32,
}

/// The most second scripts one transaction may need for counters out of step.
const MAX_OUT_OF_STEP_RETRIES: u8 = 2;

impl Transaction {
    /// A transaction over planned segments for `op_count` operations.
    pub fn new(segments: Vec<Segment>, op_count: usize) -> Self {
        Self {
            segments,
            next: 0,
            results: (0..op_count).map(|_| outcome::not_run()).collect(),
            step: 0,
            pending: None,
            out_of_step_retries: 0,
            exchanges: 0,
        }
    }

    /// Whether every segment has been run (or the transaction gave up).
    pub fn is_done(&self) -> bool {
        self.pending.is_none() && self.next >= self.segments.len()
    }

    /// Relay exchanges so far.
    pub fn exchanges(&self) -> u32 {
        self.exchanges
    }

    /// The next script for the relay, or `None` when done. `host_challenge` must be fresh.
    pub fn next_script(
        &mut self,
        keys: &StaticKeys,
        chip: &ChipTarget,
        host_challenge: Challenge,
    ) -> Result<Option<RelayScript>, OnlineError> {
        if self.pending.is_some() {
            return Err(OnlineError::NoScript);
        }
        let Some(segment) = self.segments.get(self.next) else {
            return Ok(None);
        };
        let level = session_level(&chip.target).ok_or(OnlineError::NoRMac)?;
        let select = gate(select_apdu(segment)?);
        self.step += 1;
        let (apdus, pending) = match chip.target.options.challenge {
            ChallengeMode::PseudoRandom => {
                let expected = chip
                    .counter
                    .next()
                    .ok_or(Scp03Error::SequenceCounterExhausted)?;
                let script = Script::predict(
                    keys,
                    &chip.target,
                    expected,
                    host_challenge,
                    level,
                    &segment.commands(),
                )?;
                let (commands, verifier) = script.into_parts();
                let mut apdus = alloc::vec![select];
                // INITIALIZE UPDATE and EXTERNAL AUTHENTICATE gate the rest.
                for (i, command) in commands.iter().enumerate() {
                    let bytes = command.to_bytes().map_err(Scp03Error::from)?;
                    apdus.push(if i < 2 { gate(bytes) } else { free(bytes) });
                }
                (apdus, Pending::Predicted { verifier, expected })
            }
            ChallengeMode::Random => {
                let iu = initialize_update(chip.target.kvn, &host_challenge)
                    .to_bytes()
                    .map_err(Scp03Error::from)?;
                (
                    alloc::vec![select, gate(iu)],
                    Pending::InitializeOnly { host_challenge },
                )
            }
        };
        self.pending = Some(pending);
        Ok(Some(RelayScript {
            step: self.step,
            apdus,
        }))
    }

    /// Takes the relay's report for the current script. Returns the chip's new sequence
    /// counter when it learned one (persist it), and what to do next.
    pub fn handle_report(
        &mut self,
        keys: &StaticKeys,
        chip: &ChipTarget,
        script: &RelayScript,
        report: &RelayReport,
    ) -> Result<Progress, OnlineError> {
        let pending = self.pending.take().ok_or(OnlineError::NoScript)?;
        self.exchanges += 1;
        let responses = report.responses_for(script)?;
        let Some(segment) = self.segments.get(self.next).cloned() else {
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
            Pending::Predicted { verifier, expected } => match verifier.verify(keys, rest) {
                Ok(checked) => {
                    self.record(&segment, &checked.results);
                    self.next += 1;
                    Ok(Progress::Continue {
                        counter: Some(expected),
                    })
                }
                Err(Scp03Error::CounterOutOfStep { actual_counter, .. })
                    if self.out_of_step_retries < MAX_OUT_OF_STEP_RETRIES =>
                {
                    // The card's INITIALIZE UPDATE answer was genuine (checked by `verify`):
                    // resynchronise and build the script again.
                    self.out_of_step_retries += 1;
                    Ok(Progress::Continue {
                        counter: Some(actual_counter),
                    })
                }
                Err(e) => Ok(self.give_up(Progress::ChannelFailed(e))),
            },
            Pending::InitializeOnly { host_challenge } => {
                let Some(iu) = rest.first() else {
                    return Ok(self.give_up(Progress::RelayLostCard));
                };
                let level = session_level(&chip.target).ok_or(OnlineError::NoRMac)?;
                let script = match Script::after_initialize_update(
                    keys,
                    &chip.target,
                    host_challenge,
                    iu,
                    level,
                    &segment.commands(),
                ) {
                    Ok(script) => script,
                    Err(e) => return Ok(self.give_up(Progress::ChannelFailed(e))),
                };
                let (commands, verifier) = script.into_parts();
                let mut apdus = alloc::vec![];
                for (i, command) in commands.iter().enumerate() {
                    let bytes = command.to_bytes().map_err(Scp03Error::from)?;
                    apdus.push(if i == 0 { gate(bytes) } else { free(bytes) });
                }
                self.step += 1;
                self.pending = Some(Pending::Authenticated { verifier });
                Ok(Progress::Script(RelayScript {
                    step: self.step,
                    apdus,
                }))
            }
            Pending::Authenticated { verifier } => match verifier.verify(keys, rest) {
                Ok(checked) => {
                    self.record(&segment, &checked.results);
                    self.next += 1;
                    Ok(Progress::Continue { counter: None })
                }
                Err(e) => Ok(self.give_up(Progress::ChannelFailed(e))),
            },
        }
    }

    fn record(
        &mut self,
        segment: &Segment,
        answers: &[Result<crate::scp03::CommandResult, Scp03Error>],
    ) {
        let steps: Vec<&Step> = segment.steps.iter().collect();
        for (i, step) in steps.iter().enumerate() {
            if let (Some(slot), Some(answer)) = (self.results.get_mut(step.op), answers.get(i)) {
                *slot = outcome::op_result(step, answer.as_ref());
            }
        }
    }

    fn give_up(&mut self, why: Progress) -> Progress {
        self.next = self.segments.len();
        self.pending = None;
        why
    }

    /// The transaction's status and per-operation results.
    pub fn finish(self) -> (Status, Vec<OpResult>) {
        (outcome::overall(&self.results), self.results)
    }
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
