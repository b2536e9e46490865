//! The wasm side of the npm package's `kazashi/testing` entry: kazashi-se's [`VirtualCard`]
//! (an issuer security domain with SCP03 and the ID-store applet) in memory, for tests and
//! demos of a relay without a phone. A module of its own, so that the package's main entry
//! does not carry a card.
//!
//! A card is made from a state — the JSON that `kazashi-server chip personalize --state FILE`
//! or `kazashi-se create` writes, keys included — or with a random profile; its state goes out
//! and comes back as the same JSON. Failures are `Error`s named `KazashiError` with a stable
//! `code`: `invalid_state`. Nothing here unwraps on input.
//!
//! [`VirtualCard`]: kazashi_se::VirtualCard

use kazashi_se::{CardState, Profile, StateError};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

/// Code for a state that is not one (malformed JSON, values out of range, another version).
const INVALID_STATE: &str = "invalid_state";
/// Code for a card whose state could not be replaced or exported.
const CARD_ERROR: &str = "card_error";

/// A virtual secure element in memory.
#[wasm_bindgen]
pub struct VirtualCard {
    card: kazashi_se::VirtualCard,
}

#[wasm_bindgen]
impl VirtualCard {
    /// A card from a state (JSON), or with a random profile (a chip no server knows) when
    /// `state` is `undefined`.
    #[wasm_bindgen(constructor)]
    pub fn new(state: Option<String>) -> Result<VirtualCard, JsValue> {
        let state = match state {
            Some(json) => parse(Zeroizing::new(json))?,
            None => CardState::new(Profile::random(&mut rand_core::OsRng)),
        };
        Ok(Self {
            card: kazashi_se::VirtualCard::in_memory(state),
        })
    }

    /// Processes one command APDU; returns the response APDU (data ‖ SW1 SW2). A malformed
    /// command gets the status word a card would answer, never an exception.
    pub fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.card.process(apdu)
    }

    /// The card's state as JSON (keys included: keep it as secret as the chip's keys).
    #[wasm_bindgen(js_name = exportState)]
    pub fn export_state(&self) -> Result<JsValue, JsValue> {
        let json = self
            .card
            .state()
            .to_json()
            .map_err(|e| failure(CARD_ERROR, &e.to_string()))?;
        // The JS string is a copy; the bytes in wasm memory are zeroized when `json` drops.
        let text = core::str::from_utf8(&json)
            .map_err(|_| failure(CARD_ERROR, "the state is not UTF-8"))?;
        Ok(JsValue::from_str(text))
    }

    /// Replaces the card's state, as after a power cycle (no session, the ISD selected).
    #[wasm_bindgen(js_name = importState)]
    pub fn import_state(&mut self, state: String) -> Result<(), JsValue> {
        let state = parse(Zeroizing::new(state))?;
        self.card.replace_state(state).map_err(|sw| {
            failure(
                CARD_ERROR,
                &format!("the card refused its new state ({sw})"),
            )
        })
    }

    /// The chip's identity as a server knows it: the card image number in upper-case hex.
    #[wasm_bindgen(getter, js_name = chipId)]
    pub fn chip_id(&self) -> String {
        self.card.state().profile.chip_id()
    }
}

fn parse(json: Zeroizing<String>) -> Result<CardState, JsValue> {
    CardState::from_json(json.as_bytes()).map_err(|e| match e {
        StateError::Version(_) | StateError::Invalid(_) => failure(INVALID_STATE, &e.to_string()),
        _ => failure(INVALID_STATE, "not a valid state"),
    })
}

/// An `Error` named `KazashiError` with a `code`; the entry point turns it into its class.
fn failure(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("KazashiError");
    // Setting a data property on a fresh Error cannot fail.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}
