//! The wasm side of the npm package's `kazashi/offline` entry: kazashi-protocol's ISO/IEC
//! 18013-5 roles over NFC APDUs — [`Terminal`] (the reader: `TerminalRole` and verification)
//! and [`Phone`] (the holder: `PhoneRole` over the phone's document state) — so that a phone
//! app shell can be either side. `sdk-wasm/js/offline-api.js` only moves bytes between these
//! and the app's transport.
//!
//! A module of its own, so that the package's main entry does not carry the mdoc stack.
//! Failures are `Error`s named `KazashiError` with a stable `code`: the offline layer's
//! (`OfflineError::code`, e.g. `not_trusted`, `decryption_failed`), `no_document`,
//! `invalid_state`, `invalid_argument`. Nothing here unwraps on input.

use ciborium::Value;
use js_sys::{Array, Function, Object, Reflect, Uint8Array};
use kazashi_protocol::apdu::Response;
use kazashi_protocol::offline::mso::format_rfc3339;
use kazashi_protocol::offline::phone::{
    DeviceAuthMode, DeviceKey, NewDeviceKey, PendingStore, PhoneDocument, PhoneEngagement,
    PhoneEvent, PhoneHooks, PhoneOptions, PhoneOutput, PhoneRole,
};
use kazashi_protocol::offline::pki::{Certificate, TrustList};
use kazashi_protocol::offline::state::{PhoneState, StoredDeviceKey, StoredDocument};
use kazashi_protocol::offline::terminal::{
    TerminalError, TerminalNext, TerminalRequest, TerminalRole,
};
use kazashi_protocol::offline::{DeviceResponse, NfcOptions, OfflineError, VerifiedDocument};
use p256::SecretKey;
use p256::ecdsa::SigningKey;
use p256::pkcs8::DecodePrivateKey;
use rand_core::OsRng;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

/// Seconds since the Unix epoch, from the JavaScript clock.
fn now() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

/// The reader's side of one read.
#[wasm_bindgen]
pub struct Terminal {
    role: TerminalRole,
    trust: TrustList,
    command: Option<Vec<u8>>,
    response: Option<DeviceResponse>,
}

#[wasm_bindgen]
impl Terminal {
    /// A read: `{ docType, items: { namespace: [element…] }, issuerTrust: PEM, engagement?:
    /// 'mdoc:…', readerKey?: PEM, readerCert?: PEM, extended?: boolean }`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: &JsValue) -> Result<Terminal, Failure> {
        let options = object(options, "options")?;
        let doc_type = string(&options, "docType")?
            .ok_or_else(|| Failure::argument("`docType` must be a string"))?;
        let items = items(&get(&options, "items")?, "items")?;
        if items.is_empty() {
            return Err(Failure::argument("`items` must name at least one element"));
        }
        let trust_pem = string(&options, "issuerTrust")?
            .ok_or_else(|| Failure::argument("`issuerTrust` must be PEM text"))?;
        let trust = TrustList::new(certificates(&trust_pem, "issuerTrust")?);
        let engagement = string(&options, "engagement")?;
        let reader_auth = match (
            string(&options, "readerKey")?.map(Zeroizing::new),
            string(&options, "readerCert")?,
        ) {
            (Some(key), Some(cert)) => {
                let key = SecretKey::from_sec1_pem(&key)
                    .or_else(|_| SecretKey::from_pkcs8_pem(&key))
                    .map_err(|_| {
                        Failure::new(
                            "invalid_key",
                            "`readerKey` is not a P-256 private key in PEM",
                        )
                    })?;
                let chain = certificates(&cert, "readerCert")?
                    .iter()
                    .map(|c| c.der().to_vec())
                    .collect();
                Some((SigningKey::from(key), chain))
            }
            (None, None) => None,
            _ => {
                return Err(Failure::argument(
                    "give both `readerKey` and `readerCert`, or neither",
                ));
            }
        };
        let extended = !matches!(get(&options, "extended")?.as_bool(), Some(false));
        let request = TerminalRequest {
            doc_type,
            items,
            reader_auth,
            extended,
        };
        let (role, command) = TerminalRole::start(engagement.as_deref(), request, &mut OsRng)
            .map_err(Failure::terminal)?;
        let command = command.to_bytes().map_err(|e| Failure::offline(e.into()))?;
        Ok(Self {
            role,
            trust,
            command: Some(command),
            response: None,
        })
    }

    /// The command to send now, or `undefined` once the session is over.
    pub fn command(&self) -> Option<Vec<u8>> {
        self.command.clone()
    }

    /// The phone's answer to [`command`](Self::command): the next command, or `undefined`
    /// once the session is over (then [`result`](Self::result)).
    pub fn response(&mut self, rapdu: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
        if self.command.is_none() {
            return Err(Failure::offline(OfflineError::UnexpectedMessage));
        }
        self.command = None;
        let response = Response::parse(rapdu).map_err(|e| Failure::offline(e.into()))?;
        match self
            .role
            .handle_response(&response)
            .map_err(Failure::terminal)?
        {
            TerminalNext::Command(next) => {
                let bytes = next.to_bytes().map_err(|e| Failure::offline(e.into()))?;
                self.command = Some(bytes.clone());
                Ok(Some(bytes))
            }
            TerminalNext::Done(response) => {
                self.response = Some(response);
                Ok(None)
            }
        }
    }

    /// The transport failed: `true` if the response was already in (the phone left during the
    /// session's end), so [`result`](Self::result) still holds.
    #[wasm_bindgen(js_name = transportLost)]
    pub fn transport_lost(&mut self) -> Result<bool, Failure> {
        self.command = None;
        match self.role.transport_lost() {
            Some(outcome) => {
                self.response = Some(outcome.map_err(Failure::terminal)?);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The verified document: `{ docType, items, issuer: { subject, issuer }, deviceAuth,
    /// validity: { signed, validFrom, validUntil }, engagement, readerAuth }`.
    pub fn result(&self) -> Result<JsValue, Failure> {
        let response = self
            .response
            .as_ref()
            .ok_or_else(|| Failure::offline(OfflineError::UnexpectedMessage))?;
        let document = self
            .role
            .verify(response, &self.trust, now())
            .map_err(Failure::terminal)?;
        document_to_js(
            &document,
            self.role.engagement_kind(),
            self.role.reader_auth(),
        )
    }

    /// Commands sent so far.
    #[wasm_bindgen(getter)]
    pub fn apdus(&self) -> u32 {
        u32::try_from(self.role.commands()).unwrap_or(u32::MAX)
    }
}

/// The phone as an ISO-DEP card.
#[wasm_bindgen]
pub struct Phone {
    role: PhoneRole,
    /// The state the phone was made from, with the documents written since.
    state: PhoneState,
    /// A written document's new state, while the shell stores it.
    pending: Option<PhoneState>,
}

#[wasm_bindgen]
impl Phone {
    /// A phone from its document state (JSON text) and `{ engagement?: 'nfc' | 'qr', auth?:
    /// 'signature' | 'mac', readerTrust?: PEM, requireReaderAuth?: boolean, maxCommand?,
    /// maxResponse? }`.
    #[wasm_bindgen(constructor)]
    pub fn new(state: String, options: &JsValue) -> Result<Phone, Failure> {
        let state = Zeroizing::new(state);
        let options = if options.is_undefined() || options.is_null() {
            Object::new()
        } else {
            object(options, "options")?
        };
        let state = PhoneState::parse(&state).map_err(|e| Failure::new(e.code(), e.to_string()))?;
        let held = state.clone();
        // Each document with its key: a key written at a counter in software loads; a key on
        // a chip (the state's, or a document's) cannot be used here.
        let chip_bound = || {
            Failure::new(
                "invalid_state",
                "a device key of the state lives on a chip; only software keys work here",
            )
        };
        state
            .software_key()
            .map_err(|e| Failure::new(e.code(), e.to_string()))?
            .ok_or_else(chip_bound)?;
        let mut documents = Vec::new();
        for held in state
            .held_documents()
            .map_err(|e| Failure::new(e.code(), e.to_string()))?
        {
            let key = held
                .key
                .software()
                .map_err(|e| Failure::new(e.code(), e.to_string()))?
                .ok_or_else(chip_bound)?;
            documents.push(PhoneDocument {
                doc_type: held.doc_type,
                issuer_signed: held.issuer_signed,
                key: DeviceKey::Software(key),
            });
        }
        let engagement = match string(&options, "engagement")?.as_deref() {
            None | Some("nfc") => PhoneEngagement::Nfc,
            Some("qr") => PhoneEngagement::Qr,
            Some(_) => return Err(Failure::argument("`engagement` must be 'nfc' or 'qr'")),
        };
        let auth = match string(&options, "auth")?.as_deref() {
            None | Some("signature") => DeviceAuthMode::Signature,
            Some("mac") => DeviceAuthMode::Mac,
            Some(_) => return Err(Failure::argument("`auth` must be 'signature' or 'mac'")),
        };
        let reader_trust = string(&options, "readerTrust")?
            .map(|pem| certificates(&pem, "readerTrust").map(TrustList::new))
            .transpose()?;
        let require_reader_auth = get(&options, "requireReaderAuth")?.as_bool() == Some(true);
        if require_reader_auth && reader_trust.is_none() {
            return Err(Failure::argument(
                "`requireReaderAuth` needs `readerTrust` (the reader roots)",
            ));
        }
        let nfc = NfcOptions {
            max_command_len: limit(&options, "maxCommand", 65_535)?,
            max_response_len: limit(&options, "maxResponse", 65_536)?,
        };
        let role = PhoneRole::with_documents(
            documents,
            PhoneOptions {
                engagement,
                auth,
                reader_trust,
                require_reader_auth,
                nfc,
            },
            &mut OsRng,
        )
        .map_err(Failure::offline)?;
        Ok(Self {
            role,
            state: held,
            pending: None,
        })
    }

    /// One command APDU in, its response APDU out. `consent({ docType, reader, items })`
    /// answers with the items to release (`{ namespace: [element…] }`, `true` for all);
    /// `onEvent(event)` observes. With `writes`, a write at the counter by a terminal whose
    /// reader authentication verifies against the reader trust list gets a fresh software
    /// device key (else it is refused, `key_generation`); the command that delivers the
    /// written document, once the document checked out, answers `undefined`: the new state is
    /// [`pending_state`](Self::pending_state), to be stored before
    /// [`finish_store`](Self::finish_store) gives the response.
    pub fn transmit(
        &mut self,
        apdu: &[u8],
        consent: Option<Function>,
        on_event: Option<Function>,
        writes: bool,
    ) -> Option<Vec<u8>> {
        let mut hooks = JsHooks {
            consent,
            on_event,
            writes,
        };
        match self.role.transmit_deferred(apdu, now(), &mut hooks) {
            PhoneOutput::Response(response) => Some(response),
            PhoneOutput::Store(pending) => match self.with_document(pending) {
                Some(state) => {
                    self.pending = Some(state);
                    None
                }
                // Not a software key (this shell makes none other): not stored.
                None => Some(self.role.finish_store(false, &mut hooks)),
            },
        }
    }

    /// The state with a written document added (replacing one of its type), bound to its
    /// new key.
    fn with_document(&self, pending: PendingStore) -> Option<PhoneState> {
        let DeviceKey::Software(secret) = &pending.key else {
            return None;
        };
        let mut state = self.state.clone();
        state.store(StoredDocument::new(
            &pending.doc_type,
            &pending.issuer_signed,
            Some(StoredDeviceKey::from_software(secret)),
        ));
        Some(state)
    }

    /// The phone state (JSON text, UTF-8) with the written document, while one is to be
    /// stored; `undefined` otherwise. It holds the new device key: keep it private.
    #[wasm_bindgen(js_name = pendingState)]
    pub fn pending_state(&self) -> Option<Uint8Array> {
        // Copied straight from the zeroized text into JavaScript's memory.
        self.pending
            .as_ref()
            .map(|state| Uint8Array::from(state.to_json().as_bytes()))
    }

    /// The shell stored the pending state (`stored`) or could not: the response APDU, which
    /// confirms the write only if it was stored (else it refuses it, `storage_failed`). From
    /// then on the phone holds the written document.
    #[wasm_bindgen(js_name = finishStore)]
    pub fn finish_store(&mut self, stored: bool, on_event: Option<Function>) -> Vec<u8> {
        let mut hooks = JsHooks {
            consent: None,
            on_event,
            writes: false,
        };
        let pending = self.pending.take();
        let stored = stored && pending.is_some();
        let response = self.role.finish_store(stored, &mut hooks);
        if let (true, Some(state)) = (stored, pending) {
            self.state = state;
        }
        response
    }

    /// A new tap (power on): NFC engages anew; a QR engagement stays until a session used it.
    /// Returns whether a new engagement was made.
    pub fn tap(&mut self) -> Result<bool, Failure> {
        // A write being stored is over for the phone in memory (the session is gone).
        self.pending = None;
        self.role.tap(&mut OsRng).map_err(Failure::offline)
    }

    /// The current engagement as QR text (`mdoc:…`).
    #[wasm_bindgen(getter, js_name = engagementQr)]
    pub fn engagement_qr(&self) -> String {
        self.role.engagement_qr()
    }

    /// How many documents the phone holds.
    #[wasm_bindgen(getter)]
    pub fn documents(&self) -> u32 {
        u32::try_from(self.role.document_count()).unwrap_or(u32::MAX)
    }
}

struct JsHooks {
    consent: Option<Function>,
    on_event: Option<Function>,
    /// Writes at the counter are taken (the shell stores them).
    writes: bool,
}

impl PhoneHooks for JsHooks {
    /// A software key (this shell has no chip), only when the shell stores writes. The role
    /// asks only after the terminal's reader authentication verified against the reader
    /// trust list.
    fn new_device_key(&mut self, _doc_type: &str) -> Option<NewDeviceKey> {
        if !self.writes {
            return None;
        }
        let key = SecretKey::random(&mut OsRng);
        Some(NewDeviceKey {
            public: key.public_key(),
            key: DeviceKey::Software(key),
        })
    }

    fn consent(
        &mut self,
        doc_type: &str,
        reader: Option<&Certificate>,
        requested: Vec<(String, String)>,
    ) -> Vec<(String, String)> {
        let Some(consent) = &self.consent else {
            return requested;
        };
        let ask = Object::new();
        let reader = reader.map_or(JsValue::NULL, |c| c.subject().into());
        let asked = items_to_js(&requested);
        if set(&ask, "docType", &doc_type.into()).is_err()
            || set(&ask, "reader", &reader).is_err()
            || set(&ask, "items", &asked).is_err()
        {
            return Vec::new();
        }
        // A consent callback that throws, or answers anything else, declines.
        match consent.call1(&JsValue::UNDEFINED, &ask) {
            Ok(answer) if answer.as_bool() == Some(true) => requested,
            Ok(answer) if answer.is_object() => items(&answer, "consent")
                .unwrap_or_default()
                .into_iter()
                .filter(|item| requested.contains(item))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn event(&mut self, event: PhoneEvent) {
        let Some(on_event) = &self.on_event else {
            return;
        };
        let out = Object::new();
        let fields: Vec<(&str, JsValue)> = match event {
            PhoneEvent::ReaderAuthenticated(subject) => vec![
                ("type", "reader_authenticated".into()),
                ("subject", subject.into()),
            ],
            PhoneEvent::ReaderNotAuthenticated => vec![("type", "reader_not_authenticated".into())],
            PhoneEvent::Refused { doc_type, reason } => vec![
                ("type", "refused".into()),
                ("docType", doc_type.into()),
                ("reason", reason.into()),
            ],
            PhoneEvent::Released { doc_type, items } => vec![
                ("type", "released".into()),
                ("docType", doc_type.into()),
                ("items", (items as u32).into()),
            ],
            PhoneEvent::SessionEnded => vec![("type", "session_ended".into())],
            PhoneEvent::MessageRefused(e) => vec![
                ("type", "message_refused".into()),
                ("code", e.code().into()),
            ],
            PhoneEvent::CannotAnswer(reason) => {
                vec![("type", "cannot_answer".into()), ("reason", reason.into())]
            }
            // Writes at the counter (with `onStore`): `write_requested`, `new_key_sent`, then
            // `stored` or a refusal.
            PhoneEvent::WriteRefused(code) => {
                vec![("type", "write_refused".into()), ("code", code.into())]
            }
            PhoneEvent::WriteAuthorized { doc_type, reader } => vec![
                ("type", "write_requested".into()),
                ("docType", doc_type.into()),
                ("subject", reader.into()),
            ],
            PhoneEvent::NewKeySent => vec![("type", "new_key_sent".into())],
            PhoneEvent::DocumentRefused(code) => {
                vec![("type", "document_refused".into()), ("code", code.into())]
            }
            PhoneEvent::Stored {
                doc_type,
                documents,
            } => vec![
                ("type", "stored".into()),
                ("docType", doc_type.into()),
                ("documents", (documents as u32).into()),
            ],
        };
        for (name, value) in fields {
            if set(&out, name, &value).is_err() {
                return;
            }
        }
        // An observer never changes the session.
        let _ = on_event.call1(&JsValue::UNDEFINED, &out);
    }
}

fn document_to_js(
    document: &VerifiedDocument,
    engagement: &str,
    reader_auth: bool,
) -> Result<JsValue, Failure> {
    let out = Object::new();
    set(&out, "docType", &document.doc_type().into())?;
    let items = Object::new();
    for (ns, elements) in document.items() {
        let values = Object::new();
        for (name, value) in elements {
            set(&values, name, &cbor_to_js(value)?)?;
        }
        set(&items, ns, &values)?;
    }
    set(&out, "items", &items)?;
    let issuer = Object::new();
    set(&issuer, "subject", &document.issuer().subject().into())?;
    set(&issuer, "issuer", &document.issuer().issuer().into())?;
    set(&out, "issuer", &issuer)?;
    set(&out, "deviceAuth", &document.device_auth().as_str().into())?;
    let validity = document.validity();
    let times = Object::new();
    set(&times, "signed", &format_rfc3339(validity.signed).into())?;
    set(
        &times,
        "validFrom",
        &format_rfc3339(validity.valid_from).into(),
    )?;
    set(
        &times,
        "validUntil",
        &format_rfc3339(validity.valid_until).into(),
    )?;
    set(&out, "validity", &times)?;
    set(&out, "engagement", &engagement.into())?;
    set(&out, "readerAuth", &reader_auth.into())?;
    Ok(out.into())
}

/// A CBOR data element as JavaScript: byte strings as `Uint8Array`, integers as numbers
/// (`BigInt` beyond 2⁵³), full-date (1004) and tdate (0) tags as their text, other tags as
/// `{ tag, value }`, maps as objects (non-text keys as their JSON text).
fn cbor_to_js(value: &Value) -> Result<JsValue, Failure> {
    Ok(match value {
        Value::Integer(i) => {
            let i = i128::from(*i);
            const SAFE: i128 = (1 << 53) - 1;
            if (-SAFE..=SAFE).contains(&i) {
                JsValue::from_f64(i as f64)
            } else {
                js_sys::BigInt::new(&JsValue::from_str(&i.to_string()))
                    .map_err(|_| Failure::argument("integer out of range"))?
                    .into()
            }
        }
        Value::Bytes(b) => Uint8Array::from(b.as_slice()).into(),
        Value::Float(f) => JsValue::from_f64(*f),
        Value::Text(t) => t.into(),
        Value::Bool(b) => (*b).into(),
        Value::Null => JsValue::NULL,
        Value::Tag(0 | 1004, inner) => cbor_to_js(inner)?,
        Value::Tag(tag, inner) => {
            let out = Object::new();
            set(&out, "tag", &JsValue::from_f64(*tag as f64))?;
            set(&out, "value", &cbor_to_js(inner)?)?;
            out.into()
        }
        Value::Array(items) => {
            let out = Array::new();
            for item in items {
                out.push(&cbor_to_js(item)?);
            }
            out.into()
        }
        Value::Map(entries) => {
            let out = Object::new();
            for (k, v) in entries {
                let key = match k {
                    Value::Text(t) => t.clone(),
                    Value::Integer(i) => i128::from(*i).to_string(),
                    _ => String::from("?"),
                };
                set(&out, &key, &cbor_to_js(v)?)?;
            }
            out.into()
        }
        _ => JsValue::UNDEFINED,
    })
}

fn items_to_js(items: &[(String, String)]) -> JsValue {
    let out = Object::new();
    for (ns, name) in items {
        let list = match Reflect::get(&out, &ns.into()) {
            // The array itself (`Array::from` would copy it).
            Ok(list) if Array::is_array(&list) => list.unchecked_into::<Array>(),
            _ => {
                let list = Array::new();
                let _ = Reflect::set(&out, &ns.into(), &list);
                list
            }
        };
        list.push(&name.into());
    }
    out.into()
}

/// `{ namespace: [element…] }` as `(namespace, element)` pairs.
fn items(value: &JsValue, what: &str) -> Result<Vec<(String, String)>, Failure> {
    let bad = || Failure::argument(format!("`{what}` must be {{ namespace: [element, …] }}"));
    let map = object(value, what).map_err(|_| bad())?;
    let mut out = Vec::new();
    for entry in Object::entries(&map).iter() {
        let entry = Array::from(&entry);
        let ns = entry.get(0).as_string().ok_or_else(bad)?;
        let names = entry.get(1);
        if !Array::is_array(&names) || ns.is_empty() {
            return Err(bad());
        }
        for name in Array::from(&names).iter() {
            let name = name.as_string().filter(|n| !n.is_empty()).ok_or_else(bad)?;
            out.push((ns.clone(), name));
        }
    }
    Ok(out)
}

fn certificates(pem: &str, what: &str) -> Result<Vec<Certificate>, Failure> {
    let certs = Certificate::from_pem_chain(pem)
        .map_err(|e| Failure::new(e.code(), format!("`{what}`: {e}")))?;
    if certs.is_empty() {
        return Err(Failure::argument(format!("`{what}` holds no certificate")));
    }
    Ok(certs)
}

fn limit(options: &Object, name: &str, default: u32) -> Result<u32, Failure> {
    let value = get(options, name)?;
    if value.is_undefined() || value.is_null() {
        return Ok(default);
    }
    match value.as_f64() {
        Some(n) if (1.0..=f64::from(default)).contains(&n) && n.fract() == 0.0 => Ok(n as u32),
        _ => Err(Failure::argument(format!(
            "`{name}` must be a whole number from 1 to {default}"
        ))),
    }
}

fn object(value: &JsValue, what: &str) -> Result<Object, Failure> {
    value
        .dyn_ref::<Object>()
        .filter(|_| value.is_object() && !Array::is_array(value))
        .cloned()
        .ok_or_else(|| Failure::argument(format!("`{what}` must be an object")))
}

fn get(target: &Object, name: &str) -> Result<JsValue, Failure> {
    Reflect::get(target, &JsValue::from_str(name))
        .map_err(|_| Failure::argument(format!("could not read `{name}`")))
}

fn string(target: &Object, name: &str) -> Result<Option<String>, Failure> {
    let value = get(target, name)?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value
        .as_string()
        .map(Some)
        .ok_or_else(|| Failure::argument(format!("`{name}` must be a string")))
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

    fn offline(error: OfflineError) -> Self {
        Self::new(error.code(), error.to_string())
    }

    fn terminal(error: TerminalError) -> Self {
        Self::new(error.code(), error.to_string())
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
