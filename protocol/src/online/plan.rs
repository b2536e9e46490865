//! From a verified command's operations to the chip's commands.
//!
//! Each envelope operation becomes exactly one command APDU: ID-store operations address the
//! ID-store applet in the provider's own namespace (so a provider can never name another's
//! data), raw `apdu` operations address the applet they name. Consecutive operations on the
//! same applet share one SCP03 session; each change of applet is a new SELECT and session
//! (selection ends a secure channel session, GP Amendment D §5.6).

use alloc::string::String;
use alloc::vec::Vec;

use crate::apdu::Command;
use crate::envelope::{CommandClaims, Op};
use crate::idstore::{self, Request, Slot};

/// Which applet a step addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// kazashi's ID-store applet.
    IdStore,
    /// Another applet, by AID (a raw `apdu` operation).
    Applet(Vec<u8>),
}

impl Target {
    /// The applet's AID.
    pub fn aid(&self) -> &[u8] {
        match self {
            Self::IdStore => &idstore::AID,
            Self::Applet(aid) => aid,
        }
    }
}

/// One operation, as the chip will see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Index of the operation in the command's `ops`.
    pub op: usize,
    /// The applet.
    pub target: Target,
    /// The plain command APDU (SCP03 wraps it).
    pub command: Command,
    /// The ID-store request, to read the reply; `None` for raw APDUs.
    pub request: Option<Request>,
}

/// Consecutive steps on one applet: one SELECT and one secure channel session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The applet.
    pub target: Target,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl Segment {
    /// The plain commands of the segment.
    pub fn commands(&self) -> Vec<Command> {
        self.steps.iter().map(|s| s.command.clone()).collect()
    }
}

/// Why a command's operations cannot be planned.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanError {
    /// A raw `capdu` is not a valid command APDU.
    InvalidApdu,
    /// The namespace (provider id) does not fit the applet's limit.
    NamespaceTooLong,
}

impl core::fmt::Display for PlanError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::InvalidApdu => "a raw apdu operation is not a valid command APDU",
            Self::NamespaceTooLong => "the provider id does not fit the applet's namespace",
        })
    }
}

impl core::error::Error for PlanError {}

/// Plans the operations of `claims` for the provider whose namespace is `namespace`
/// (the provider's id). Policy (which raw APDUs are allowed) is checked before this.
pub fn plan(claims: &CommandClaims, namespace: &str) -> Result<Vec<Segment>, PlanError> {
    if namespace.is_empty() || namespace.len() > idstore::MAX_NAMESPACE_LEN {
        return Err(PlanError::NamespaceTooLong);
    }
    let slot = |name: &String| Slot::new(namespace, name);
    let mut segments: Vec<Segment> = Vec::new();
    for (op, operation) in claims.ops.iter().enumerate() {
        let (target, command, request) = match operation {
            Op::Apdu { aid, capdu } => (
                Target::Applet(aid.clone()),
                Command::parse(capdu).map_err(|_| PlanError::InvalidApdu)?,
                None,
            ),
            other => {
                let request = match other {
                    Op::Put { record, data } => Request::PutRecord {
                        slot: slot(record),
                        value: data.clone(),
                    },
                    Op::Get { record } => Request::GetRecord(slot(record)),
                    Op::Delete { record } => Request::DeleteRecord(slot(record)),
                    Op::Add { counter, amount } => Request::Add {
                        slot: slot(counter),
                        amount: *amount,
                    },
                    Op::Sub { counter, amount } => Request::Sub {
                        slot: slot(counter),
                        amount: *amount,
                    },
                    Op::Keygen { key } => Request::GenerateKey(slot(key)),
                    Op::Apdu { .. } => unreachable_apdu(),
                };
                (Target::IdStore, request.to_command(), Some(request))
            }
        };
        let step = Step {
            op,
            target: target.clone(),
            command,
            request,
        };
        match segments.last_mut() {
            Some(last) if last.target == target => last.steps.push(step),
            _ => segments.push(Segment {
                target,
                steps: alloc::vec![step],
            }),
        }
    }
    Ok(segments)
}

/// The `Apdu` arm is matched first; this keeps the inner match exhaustive without a panic.
fn unreachable_apdu() -> Request {
    Request::List {
        namespace: Vec::new(),
    }
}
