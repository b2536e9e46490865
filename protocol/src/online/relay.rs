//! The relay script format: what the server sends the common app, and what it sends back.
//!
//! The relay holds no keys and decides nothing: it sends each APDU of the script to the chip
//! in order and returns every response. The only rule it follows is the script's: an APDU
//! marked `stop_unless_ok` ends the run when the chip does not answer `9000` (or `61XX`) —
//! a failed SELECT or EXTERNAL AUTHENTICATE makes every later command useless.
//!
//! [`RelayRun`] is that loop as a sans-IO state machine, so the Rust relay, the kiosk and the
//! JavaScript relay (through wasm) share it.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::apdu::Response;

/// Most APDUs in one script.
pub const MAX_SCRIPT_APDUS: usize = 512;

/// One APDU of a script.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptApdu {
    /// The command APDU, hex on the wire.
    #[serde(with = "crate::hex::serde")]
    pub capdu: Vec<u8>,
    /// Stop the run unless the chip answers `9000` or `61XX`.
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub stop_unless_ok: bool,
}

/// A script: the server's answer to the relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayScript {
    /// Which exchange of the transaction this script belongs to (echoed in the report).
    pub step: u32,
    /// The APDUs, in order.
    pub apdus: Vec<ScriptApdu>,
}

/// What the relay sends back: the responses, in order (fewer than the APDUs when it stopped).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayReport {
    /// The script's `step`.
    pub step: u32,
    /// The response APDUs, hex on the wire.
    #[serde(with = "hexlist")]
    pub rapdus: Vec<Vec<u8>>,
    /// The chip's identity as the relay read it (the CIN in hex), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chip: Option<String>,
}

/// The relay's first message when its launch URL carried no script: which chip it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChipHello {
    /// The chip's identity (the CIN in hex, GET DATA `0045`).
    pub chip: String,
}

/// The server's answer to a relay's message: the next script, or the signed result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RelayAnswer {
    /// Run this script next.
    Script(RelayScript),
    /// The transaction is over: the result token (compact JWS, or JWE when sealed).
    Result(String),
}

/// A launch URL: where the relay posts, and the first script when the server could build it
/// in advance (carried in the URL's fragment, which never reaches a server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// The URL to post to (the launch URL without its fragment).
    pub url: String,
    /// The first script, if the launch URL carried one.
    pub script: Option<RelayScript>,
}

/// The fragment key of a launch URL's script.
pub const SCRIPT_FRAGMENT: &str = "script=";

impl Launch {
    /// Parses a launch URL, with or without a `#script=` fragment.
    pub fn parse(launch_url: &str) -> Result<Self, RelayError> {
        let (url, fragment) = match launch_url.split_once('#') {
            Some((url, fragment)) => (url, Some(fragment)),
            None => (launch_url, None),
        };
        let script = match fragment {
            None | Some("") => None,
            Some(fragment) => {
                let encoded = fragment
                    .strip_prefix(SCRIPT_FRAGMENT)
                    .ok_or(RelayError::Malformed)?;
                let json = crate::jose::b64::decode(encoded).map_err(|_| RelayError::Malformed)?;
                let script: RelayScript =
                    serde_json::from_slice(&json).map_err(|_| RelayError::Malformed)?;
                script.validate()?;
                Some(script)
            }
        };
        Ok(Self {
            url: url.into(),
            script,
        })
    }

    /// The launch URL, with the script in its fragment when there is one.
    pub fn to_url(&self) -> String {
        match &self.script {
            None => self.url.clone(),
            Some(script) => {
                let json = serde_json::to_vec(script).unwrap_or_default();
                alloc::format!(
                    "{}#{SCRIPT_FRAGMENT}{}",
                    self.url,
                    crate::jose::b64::encode(&json)
                )
            }
        }
    }
}

/// Why a script or report is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelayError {
    /// More than [`MAX_SCRIPT_APDUS`] APDUs, or more responses than APDUs.
    TooLong,
    /// An APDU or response is too short to be one.
    Malformed,
    /// The report answers another step.
    WrongStep,
}

impl core::fmt::Display for RelayError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::TooLong => "relay script or report too long",
            Self::Malformed => "malformed APDU in a relay script or report",
            Self::WrongStep => "relay report answers another script",
        })
    }
}

impl core::error::Error for RelayError {}

impl RelayScript {
    /// Checks the script's size and shape.
    pub fn validate(&self) -> Result<(), RelayError> {
        if self.apdus.len() > MAX_SCRIPT_APDUS {
            return Err(RelayError::TooLong);
        }
        if self.apdus.iter().any(|a| a.capdu.len() < 4) {
            return Err(RelayError::Malformed);
        }
        Ok(())
    }

    /// Starts running the script.
    pub fn start(&self) -> Result<RelayRun<'_>, RelayError> {
        RelayRun::new(Cow::Borrowed(self))
    }

    /// Starts running the script, the run owning it (for a relay that keeps the run in its
    /// own state, as [`super::client::RelaySession`] does).
    pub fn into_run(self) -> Result<RelayRun<'static>, RelayError> {
        RelayRun::new(Cow::Owned(self))
    }
}

impl RelayReport {
    /// Checks the report against the script it answers and parses the responses.
    pub fn responses_for(&self, script: &RelayScript) -> Result<Vec<Response>, RelayError> {
        if self.step != script.step {
            return Err(RelayError::WrongStep);
        }
        if self.rapdus.len() > script.apdus.len() {
            return Err(RelayError::TooLong);
        }
        self.rapdus
            .iter()
            .map(|r| Response::parse(r).map_err(|_| RelayError::Malformed))
            .collect()
    }
}

/// A script being run: ask for the next APDU, hand in the chip's response, repeat.
#[derive(Debug)]
pub struct RelayRun<'a> {
    script: Cow<'a, RelayScript>,
    responses: Vec<Vec<u8>>,
    stopped: bool,
}

impl<'a> RelayRun<'a> {
    fn new(script: Cow<'a, RelayScript>) -> Result<Self, RelayError> {
        script.validate()?;
        Ok(Self {
            responses: Vec::with_capacity(script.apdus.len()),
            script,
            stopped: false,
        })
    }

    /// The script being run.
    pub fn script(&self) -> &RelayScript {
        &self.script
    }

    /// The next APDU to send, or `None` when the run is over.
    pub fn next_apdu(&self) -> Option<&[u8]> {
        if self.stopped {
            return None;
        }
        self.script
            .apdus
            .get(self.responses.len())
            .map(|a| a.capdu.as_slice())
    }

    /// Records the chip's response to the APDU [`Self::next_apdu`] gave.
    pub fn handle_response(&mut self, rapdu: &[u8]) {
        let Some(apdu) = self.script.apdus.get(self.responses.len()) else {
            return;
        };
        let ok = Response::parse(rapdu).is_ok_and(|r| r.sw.is_success());
        if apdu.stop_unless_ok && !ok {
            self.stopped = true;
        }
        self.responses.push(rapdu.to_vec());
    }

    /// Ends the run early (the card was removed): the report holds what was answered.
    pub fn abort(&mut self) {
        self.stopped = true;
    }

    /// The report to send to the server.
    pub fn finish(self) -> RelayReport {
        RelayReport {
            step: self.script.step,
            rapdus: self.responses,
            chip: None,
        }
    }
}

mod hexlist {
    use alloc::string::String;
    use alloc::vec::Vec;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(list: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(list.len()))?;
        for bytes in list {
            seq.serialize_element(&crate::hex::encode_upper(bytes))?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        if texts.len() > super::MAX_SCRIPT_APDUS {
            return Err(D::Error::custom("too many responses"));
        }
        texts
            .iter()
            .map(|t| crate::hex::decode(t).ok_or_else(|| D::Error::custom("invalid hex")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn script() -> RelayScript {
        RelayScript {
            step: 1,
            apdus: vec![
                ScriptApdu {
                    capdu: vec![0, 0xA4, 4, 0, 1, 1],
                    stop_unless_ok: true,
                },
                ScriptApdu {
                    capdu: vec![0x84, 0xD0, 0, 0],
                    stop_unless_ok: false,
                },
                ScriptApdu {
                    capdu: vec![0x84, 0xD2, 0, 0],
                    stop_unless_ok: false,
                },
            ],
        }
    }

    #[test]
    fn runs_every_apdu_and_reports_in_order() {
        let script = script();
        let mut run = script.start().unwrap();
        let mut sent = Vec::new();
        while let Some(apdu) = run.next_apdu() {
            sent.push(apdu.to_vec());
            // A failing command that does not stop the run.
            let answer: &[u8] = if sent.len() == 2 {
                &[0x6A, 0x88]
            } else {
                &[0x90, 0x00]
            };
            run.handle_response(answer);
        }
        assert_eq!(sent.len(), 3);
        let report = run.finish();
        assert_eq!(
            report.rapdus,
            vec![vec![0x90, 0], vec![0x6A, 0x88], vec![0x90, 0]]
        );
        assert_eq!(report.responses_for(&script).unwrap().len(), 3);
    }

    #[test]
    fn launch_urls_with_and_without_a_script() {
        let bare = Launch::parse("https://s.test/launch/abc").unwrap();
        assert_eq!(
            bare,
            Launch {
                url: "https://s.test/launch/abc".into(),
                script: None
            }
        );
        let with = Launch {
            url: "https://s.test/launch/abc".into(),
            script: Some(script()),
        };
        let url = with.to_url();
        assert!(url.starts_with("https://s.test/launch/abc#script="));
        assert_eq!(Launch::parse(&url).unwrap(), with);
        assert_eq!(
            Launch::parse("https://s.test/launch/abc#x=1"),
            Err(RelayError::Malformed)
        );
        assert_eq!(
            Launch::parse("https://s.test/launch/abc#script=!!"),
            Err(RelayError::Malformed)
        );
        let answer: RelayAnswer = serde_json::from_str(r#"{"result":"a.b.c"}"#).unwrap();
        assert_eq!(answer, RelayAnswer::Result("a.b.c".into()));
        let answer = RelayAnswer::Script(script());
        let text = serde_json::to_string(&answer).unwrap();
        assert!(text.starts_with(r#"{"script":{"step":1"#), "{text}");
    }

    #[test]
    fn stops_when_a_gate_fails() {
        let script = script();
        let mut run = script.start().unwrap();
        run.handle_response(&[0x6A, 0x82]);
        assert!(run.next_apdu().is_none());
        assert_eq!(run.finish().rapdus.len(), 1);
    }

    #[test]
    fn wire_format_and_refusals() {
        let text = serde_json::to_string(&script()).unwrap();
        assert!(text.starts_with(r#"{"step":1,"apdus":[{"capdu":"00A404000101","stop_unless_ok":true},{"capdu":"84D00000"}"#), "{text}");
        let back: RelayScript = serde_json::from_str(&text).unwrap();
        assert_eq!(back, script());
        assert!(
            serde_json::from_str::<RelayScript>(r#"{"step":1,"apdus":[{"capdu":"0G"}]}"#).is_err()
        );
        assert!(serde_json::from_str::<RelayScript>(r#"{"step":1,"apdus":[],"x":1}"#).is_err());
        let short = RelayScript {
            step: 1,
            apdus: vec![ScriptApdu {
                capdu: vec![0],
                stop_unless_ok: false,
            }],
        };
        assert_eq!(short.start().unwrap_err(), RelayError::Malformed);
        let report = RelayReport {
            step: 2,
            rapdus: vec![],
            chip: None,
        };
        assert_eq!(report.responses_for(&script()), Err(RelayError::WrongStep));
        let report = RelayReport {
            step: 1,
            rapdus: vec![vec![0x90, 0]; 4],
            chip: None,
        };
        assert_eq!(report.responses_for(&script()), Err(RelayError::TooLong));
        let report = RelayReport {
            step: 1,
            rapdus: vec![vec![0x90]],
            chip: None,
        };
        assert_eq!(report.responses_for(&script()), Err(RelayError::Malformed));
    }
}
