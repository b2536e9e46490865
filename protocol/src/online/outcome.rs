//! From the chip's verified answers to the result envelope's per-operation entries.
//!
//! Only data whose R-MAC verified is reported. GlobalPlatform sends error status words without
//! an R-MAC (Amendment D §6.2.5), so a refusal is reported with its status word but cannot be
//! told apart from one a relay forged: a relay can make an operation look failed, never make
//! one look successful or change its data.

use alloc::string::String;

use crate::apdu::StatusWord;
use crate::envelope::{OpResult, OpStatus, Status};
use crate::hex;
use crate::idstore::{Reply, ReplyError};
use crate::jose::PublicKey;
use crate::scp03::{CommandResult, Scp03Error};

use super::plan::Step;

/// Stable error codes of a failed operation (`OpResult::error`).
pub mod codes {
    /// The chip refused the command (`sw` says why).
    pub const CHIP_REFUSED: &str = "chip_refused";
    /// The answer's R-MAC did not verify, or the answer is missing or out of order.
    pub const NOT_AUTHENTICATED: &str = "response_not_authenticated";
    /// The chip answered with data of the wrong shape.
    pub const MALFORMED_REPLY: &str = "malformed_reply";
    /// The operation never reached the chip.
    pub const NOT_RUN: &str = "not_run";
}

/// The result entry for one step, from the secure channel's verdict on its answer.
pub fn op_result(step: &Step, answer: Result<&CommandResult, &Scp03Error>) -> OpResult {
    let result = match answer {
        Ok(result) => result,
        Err(_) => return failed(codes::NOT_AUTHENTICATED, None),
    };
    let response = result.response();
    if !response.sw.is_success() {
        return failed(codes::CHIP_REFUSED, Some(response.sw));
    }
    // A success must carry a verified R-MAC: data without one is never reported.
    if !result.is_authenticated() {
        return failed(codes::NOT_AUTHENTICATED, None);
    }
    let Some(request) = &step.request else {
        return OpResult {
            rapdu: Some(response.to_bytes()),
            ..OpResult::ok()
        };
    };
    match request.parse_reply(response) {
        Ok(Reply::Done) => OpResult::ok(),
        Ok(Reply::Value(data)) => OpResult {
            data: Some(data),
            ..OpResult::ok()
        },
        Ok(Reply::Counter(value)) => OpResult {
            value: Some(value),
            ..OpResult::ok()
        },
        Ok(Reply::PublicKey(point)) => match PublicKey::from_sec1_bytes(&point) {
            Ok(key) => OpResult {
                jwk: Some(key.to_jwk()),
                ..OpResult::ok()
            },
            Err(_) => failed(codes::MALFORMED_REPLY, None),
        },
        Ok(Reply::Signature(_) | Reply::Names(_)) | Err(ReplyError::Malformed) => {
            failed(codes::MALFORMED_REPLY, None)
        }
        Err(ReplyError::Status(sw)) => failed(codes::CHIP_REFUSED, Some(sw)),
    }
}

/// The entry of an operation that never reached the chip.
pub fn not_run() -> OpResult {
    OpResult {
        error: Some(codes::NOT_RUN.into()),
        ..OpResult::with_status(OpStatus::Skipped)
    }
}

/// The transaction's status: `ok` when every operation is.
pub fn overall(results: &[OpResult]) -> Status {
    if results.iter().all(|r| r.status == OpStatus::Ok) {
        Status::Ok
    } else {
        Status::Failed
    }
}

fn failed(code: &str, sw: Option<StatusWord>) -> OpResult {
    OpResult {
        sw: sw.map(|sw| hex::encode_upper(&sw.to_bytes())),
        error: Some(String::from(code)),
        ..OpResult::with_status(OpStatus::Failed)
    }
}
