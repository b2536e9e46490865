//! The one error crossing into JavaScript: an `Error` named `KazashiError` with a stable `code`.

use kazashi_protocol::envelope::EnvelopeError;
use kazashi_protocol::jose::JoseError;
use wasm_bindgen::JsValue;

/// Code for an argument of the wrong JavaScript type (not a protocol refusal).
pub(crate) const INVALID_ARGUMENT: &str = "invalid_argument";
/// Code for a platform without `crypto.getRandomValues`.
#[cfg_attr(not(feature = "rustcrypto"), allow(dead_code))]
pub(crate) const NO_RANDOMNESS: &str = "no_randomness";
/// Code for a cryptographic primitive that failed unexpectedly or answered nonsense (a
/// platform bug, not bad input).
pub(crate) const CRYPTO_FAILED: &str = "crypto_failed";

/// A refusal: a stable code and a short English message.
#[derive(Debug)]
pub struct Failure {
    code: &'static str,
    message: String,
}

impl Failure {
    /// A failure of the SDK's own (codes not from the protocol).
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// An argument of the wrong type.
    pub(crate) fn argument(message: impl Into<String>) -> Self {
        Self::new(INVALID_ARGUMENT, message)
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<JoseError> for Failure {
    fn from(e: JoseError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<EnvelopeError> for Failure {
    fn from(e: EnvelopeError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<Failure> for JsValue {
    /// A plain `Error` named `KazashiError` with a `code`; the package's entry points turn it
    /// into an instance of their `KazashiError` class.
    fn from(f: Failure) -> Self {
        let error = js_sys::Error::new(&f.message);
        error.set_name("KazashiError");
        // Setting a data property on a fresh Error cannot fail; if it ever did, the entry
        // points would still see a KazashiError by name.
        let _ = js_sys::Reflect::set(&error, &"code".into(), &f.code.into());
        error.into()
    }
}
