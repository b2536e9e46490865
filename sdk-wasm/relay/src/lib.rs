//! The wasm side of the npm package's `Relay`: `kazashi_protocol::online::RelaySession`, the
//! common app's run as a sans-IO state machine, as a class. `sdk-wasm/js/relay.js` only moves
//! bytes between it, the page's transport to the chip, and `fetch`.
//!
//! A module of its own, loaded on a relay's first run: a relay needs no cryptography (it holds
//! no keys), and a page that only verifies results does not carry the relay. Failures are
//! `Error`s named `KazashiError` with a stable `code` (`invalid_launch_url`,
//! `invalid_argument`); what a run ends with is an action (`failed` and its code), not an
//! exception.

use js_sys::{Array, Object, Reflect, Uint8Array};
use kazashi_protocol::online::client::MAX_ANSWER;
use kazashi_protocol::online::{Action, ClientError, Phase, RelaySession, RetryPolicy};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// Largest launch URL accepted (a script in the fragment is at most a few tens of KiB).
const MAX_LAUNCH_URL: usize = 1 << 20;

/// One run of a transaction from its launch URL (see `docs/relay.md`).
#[wasm_bindgen(js_name = RelaySession)]
pub struct JsRelaySession {
    session: RelaySession,
}

#[wasm_bindgen(js_class = RelaySession)]
impl JsRelaySession {
    /// A run of `launchUrl`. `options`: `{ networkRetries?, busyRetries? }` (defaults 30, 130).
    #[wasm_bindgen(constructor)]
    pub fn new(launch_url: &JsValue, options: &JsValue) -> Result<JsRelaySession, Failure> {
        let Some(url) = launch_url.as_string() else {
            return Err(Failure::argument("the launch URL must be a string"));
        };
        if url.len() > MAX_LAUNCH_URL {
            return Err(invalid_launch_url());
        }
        let mut policy = RetryPolicy::default();
        if !options.is_undefined() && !options.is_null() {
            let options = options
                .dyn_ref::<Object>()
                .filter(|_| options.is_object() && !Array::is_array(options))
                .ok_or_else(|| Failure::argument("options must be an object"))?;
            if let Some(n) = retries(options, "networkRetries")? {
                policy.network = n;
            }
            if let Some(n) = retries(options, "busyRetries")? {
                policy.busy = n;
            }
        }
        let session = RelaySession::new(&url, policy).map_err(|_| invalid_launch_url())?;
        Ok(Self { session })
    }

    /// What to do next: `{ kind: 'transmit', apdu }`, `{ kind: 'post', url, body }`,
    /// `{ kind: 'wait', millis }`, `{ kind: 'done', token }` or
    /// `{ kind: 'failed', code, message, status? }`.
    pub fn action(&self) -> Result<JsValue, Failure> {
        let out = Object::new();
        match self.session.action() {
            Action::Transmit(apdu) => {
                set(&out, "kind", &"transmit".into())?;
                set(&out, "apdu", &Uint8Array::from(apdu).into())?;
            }
            Action::Post { url, body } => {
                set(&out, "kind", &"post".into())?;
                set(&out, "url", &url.into())?;
                set(&out, "body", &body.into())?;
            }
            Action::Wait { millis } => {
                set(&out, "kind", &"wait".into())?;
                set(&out, "millis", &millis.into())?;
            }
            Action::Done(token) => {
                set(&out, "kind", &"done".into())?;
                set(&out, "token", &token.into())?;
            }
            Action::Failed(error) => {
                set(&out, "kind", &"failed".into())?;
                set(&out, "code", &error.code().into())?;
                set(&out, "message", &error.to_string().into())?;
                if let ClientError::Refused { status, .. } = error {
                    set(&out, "status", &(*status).into())?;
                }
            }
        }
        Ok(out.into())
    }

    /// Where the run is: `{ phase, step?, apdus?, busy? }`, `phase` one of `identity`,
    /// `hello`, `script`, `report`, `waiting`, `done`, `failed`.
    pub fn phase(&self) -> Result<JsValue, Failure> {
        let out = Object::new();
        let name = match self.session.phase() {
            Phase::Identity => "identity",
            Phase::Hello => "hello",
            Phase::Script { step, apdus } => {
                set(&out, "step", &step.into())?;
                set(&out, "apdus", &(apdus as u32).into())?;
                "script"
            }
            Phase::Report { step } => {
                set(&out, "step", &step.into())?;
                "report"
            }
            Phase::Waiting { busy } => {
                set(&out, "busy", &busy.into())?;
                "waiting"
            }
            Phase::Done => "done",
            Phase::Failed => "failed",
        };
        set(&out, "phase", &name.into())?;
        Ok(out.into())
    }

    /// The chip's identity (CIN, hex), once read.
    #[wasm_bindgen(getter)]
    pub fn chip(&self) -> Option<String> {
        self.session.chip().map(str::to_owned)
    }

    /// HTTP requests made so far, resends included.
    #[wasm_bindgen(getter)]
    pub fn posts(&self) -> u32 {
        u32::try_from(self.session.posts()).unwrap_or(u32::MAX)
    }

    /// The chip's response to the APDU of a `transmit` action.
    #[wasm_bindgen(js_name = cardResponse)]
    pub fn card_response(&mut self, rapdu: &[u8]) {
        self.session.card_response(rapdu);
    }

    /// The card left the field during a `transmit` action.
    #[wasm_bindgen(js_name = cardRemoved)]
    pub fn card_removed(&mut self) {
        self.session.card_removed();
    }

    /// The transport failed during a `transmit` action.
    #[wasm_bindgen(js_name = cardFailed)]
    pub fn card_failed(&mut self) {
        self.session.card_failed();
    }

    /// The server's answer to a `post` action: its HTTP status and body bytes (pass at most
    /// `RelaySession.maxAnswer() + 1` bytes).
    #[wasm_bindgen(js_name = httpResponse)]
    pub fn http_response(&mut self, status: u16, body: &[u8]) {
        self.session.http_response(status, body);
    }

    /// A `post` action could not reach the server.
    #[wasm_bindgen(js_name = networkFailed)]
    pub fn network_failed(&mut self) {
        self.session.network_failed();
    }

    /// A `wait` action is over.
    pub fn waited(&mut self) {
        self.session.waited();
    }

    /// The largest server answer a relay reads, in bytes.
    #[wasm_bindgen(js_name = maxAnswer)]
    pub fn max_answer() -> u32 {
        u32::try_from(MAX_ANSWER).unwrap_or(u32::MAX)
    }
}

fn invalid_launch_url() -> Failure {
    Failure::new(
        "invalid_launch_url",
        ClientError::InvalidLaunchUrl.to_string(),
    )
}

fn retries(options: &Object, name: &str) -> Result<Option<u32>, Failure> {
    let value = Reflect::get(options, &JsValue::from_str(name))
        .map_err(|_| Failure::argument(format!("could not read `{name}`")))?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    match value.as_f64() {
        Some(n) if (0.0..=1000.0).contains(&n) && n.fract() == 0.0 => Ok(Some(n as u32)),
        _ => Err(Failure::argument(format!(
            "`{name}` must be a whole number from 0 to 1000"
        ))),
    }
}

fn set(target: &Object, name: &str, value: &JsValue) -> Result<(), Failure> {
    Reflect::set(target, &JsValue::from_str(name), value)
        .map(|_| ())
        .map_err(|_| Failure::argument("could not build the result"))
}

/// A refusal crossing into JavaScript: an `Error` named `KazashiError` with a stable `code`.
#[derive(Debug)]
pub struct Failure {
    code: &'static str,
    message: String,
}

impl Failure {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn argument(message: impl Into<String>) -> Self {
        Self::new("invalid_argument", message)
    }
}

impl From<Failure> for JsValue {
    fn from(f: Failure) -> Self {
        let error = js_sys::Error::new(&f.message);
        error.set_name("KazashiError");
        // Setting a data property on a fresh Error cannot fail.
        let _ = Reflect::set(&error, &"code".into(), &f.code.into());
        error.into()
    }
}
