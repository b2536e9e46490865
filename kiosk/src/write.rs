//! `kazashi-kiosk write`: the counter terminal writes a document into the phone
//! (`offline::provision`, our extension to 18013-5): the same engagement and session as a
//! read, a reader-authenticated key request, a document issued for the phone's fresh key, and
//! the phone's confirmation. All protocol decisions are `kazashi_protocol::offline`'s.

use std::path::Path;

use ciborium::Value;
use kazashi_protocol::apdu::{Command, Response};
use kazashi_protocol::offline::mso::{ValidityInfo, format_rfc3339};
use kazashi_protocol::offline::nfc::{Limits, Next, ReaderExchange};
use kazashi_protocol::offline::present;
use kazashi_protocol::offline::provision::{self, TerminalWrite};
use kazashi_protocol::offline::terminal::{EngageNext, Engaged, TerminalEngagement};
use kazashi_protocol::offline::{OfflineError, Reader};
use kazashi_se::CardTransport;
use p256::ecdsa::SigningKey;
use rand_core::OsRng;

use crate::error::KioskError;
use crate::files;
use crate::read::{send, terminal_error};

/// Per namespace, the elements and their values.
pub(crate) type NameSpaces = Vec<(String, Vec<(String, Value)>)>;

/// What to write and how.
pub(crate) struct WriteOptions {
    /// QR text (`mdoc:…`); NFC static handover when absent.
    pub(crate) engagement: Option<String>,
    /// The document type.
    pub(crate) doc_type: String,
    /// Per namespace, the elements.
    pub(crate) name_spaces: NameSpaces,
    /// The document signer key.
    pub(crate) issuer_key: SigningKey,
    /// The document signer chain (DER, leaf first).
    pub(crate) issuer_chain: Vec<Vec<u8>>,
    /// The terminal's reader-authentication key and chain (leaf first, DER).
    pub(crate) reader_key: SigningKey,
    /// Its chain.
    pub(crate) reader_chain: Vec<Vec<u8>>,
    /// Days of validity.
    pub(crate) valid_days: u64,
    /// Whether the PC/SC reader takes extended-length APDUs.
    pub(crate) extended: bool,
    /// Issuance time (seconds since the Unix epoch).
    pub(crate) now: u64,
}

/// A confirmed write.
pub(crate) struct WriteResult {
    /// SHA-256 of the stored `IssuerSigned`, as the phone confirmed it.
    pub(crate) digest: [u8; 32],
    /// `"nfc"` or `"qr"`.
    pub(crate) engagement: &'static str,
    /// The MSO's `validUntil`.
    pub(crate) valid_until: u64,
    /// APDUs exchanged.
    pub(crate) apdus: usize,
}

impl WriteResult {
    /// The JSON printed on success.
    pub(crate) fn to_json(&self, doc_type: &str) -> serde_json::Value {
        serde_json::json!({
            "doc_type": doc_type,
            "digest": hex::encode(self.digest),
            "valid_until": format_rfc3339(self.valid_until),
            "engagement": self.engagement,
        })
    }
}

/// Writes one document. `progress` gets a line per step, for a person.
pub(crate) fn write<T: CardTransport>(
    transport: &mut T,
    options: &WriteOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<WriteResult, KioskError> {
    let mut link = Link {
        transport,
        apdus: 0,
    };
    let (
        Engaged {
            engagement,
            handover,
            limits,
        },
        how,
    ) = engage(
        &mut link,
        options.engagement.as_deref(),
        options.extended,
        progress,
    )?;
    let reader = Reader::new(&engagement, &handover, &mut OsRng);
    let (awaiting_key, establishment) = TerminalWrite::start(
        reader,
        &options.doc_type,
        &options.reader_key,
        &options.reader_chain,
    )
    .map_err(KioskError::Session)?;
    progress(&format!(
        "Asking the phone for a new key for {}",
        options.doc_type
    ));
    let reply = link
        .exchange(&establishment, limits)?
        .ok_or(KioskError::Session(OfflineError::MissingField("data")))?;
    let received = match awaiting_key.handle(&reply) {
        Ok(received) => received,
        Err(error) => return Err(fail(&mut link, limits, error)),
    };
    progress("New key received and proved; issuing");
    let valid_until = options.now + options.valid_days * 86_400;
    let document = present::issue(
        &options.doc_type,
        &options.name_spaces,
        received.device_key(),
        ValidityInfo {
            signed: options.now,
            valid_from: options.now - 60,
            valid_until,
            expected_update: None,
        },
        &options.issuer_key,
        &options.issuer_chain,
        &mut OsRng,
    );
    let (awaiting_stored, store) = received.store(&document).map_err(KioskError::Session)?;
    progress("Writing");
    let reply = link
        .exchange(&store, limits)?
        .ok_or(KioskError::Session(OfflineError::MissingField("data")))?;
    let written = match awaiting_stored.handle(&reply) {
        Ok(written) => written,
        Err(error) => return Err(fail(&mut link, limits, error)),
    };
    progress("The phone stored the document");
    Ok(WriteResult {
        digest: written.digest(),
        engagement: how,
        valid_until,
        apdus: link.apdus,
    })
}

/// A card and the APDUs sent to it.
struct Link<'a, T: CardTransport> {
    transport: &'a mut T,
    apdus: usize,
}

impl<T: CardTransport> Link<'_, T> {
    fn send(&mut self, command: &Command) -> Result<Response, KioskError> {
        self.apdus += 1;
        send(self.transport, command, self.apdus == 1)
    }

    /// One session message out, the phone's answer back (the protocol's ISO-DEP framing).
    fn exchange(&mut self, message: &[u8], limits: Limits) -> Result<Option<Vec<u8>>, KioskError> {
        let (mut exchange, mut command) =
            ReaderExchange::start(message, limits).map_err(KioskError::Session)?;
        loop {
            let response = self.send(&command)?;
            match exchange
                .handle_response(&response)
                .map_err(KioskError::Session)?
            {
                Next::Command(next) => command = next,
                Next::Message(reply) => return Ok(reply),
            }
        }
    }
}

/// The protocol's engagement (`TerminalEngagement`, shared with `read`) over the link: by the
/// QR text `qr`, or by NFC static handover when absent; then SELECT. Also `"nfc"` or `"qr"`.
fn engage<T: CardTransport>(
    link: &mut Link<'_, T>,
    qr: Option<&str>,
    extended: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<(Engaged, &'static str), KioskError> {
    progress(if qr.is_some() {
        "Engagement from the QR code"
    } else {
        "Reading the phone's NFC handover…"
    });
    let (mut engaging, mut command) =
        TerminalEngagement::start(qr, extended).map_err(terminal_error)?;
    let mut announced = false;
    loop {
        if !announced && !engaging.in_handover() {
            announced = true;
            progress(&format!(
                "Opening the session ({} APDUs)",
                match engaging.limits() {
                    Some(limits) if limits.extended() => "extended",
                    _ => "short",
                }
            ));
        }
        let response = link.send(&command)?;
        match engaging
            .handle_response(&response)
            .map_err(terminal_error)?
        {
            EngageNext::Command(next) => command = next,
            EngageNext::Engaged(engaged) => return Ok((engaged, engaging.kind())),
        }
    }
}

/// Tells the phone why (when its own message did not already end the session) and returns
/// the error.
fn fail<T: CardTransport>(
    link: &mut Link<'_, T>,
    limits: Limits,
    error: OfflineError,
) -> KioskError {
    if !matches!(
        error,
        OfflineError::WriteRefused(_)
            | OfflineError::SessionTerminated
            | OfflineError::PeerError(_)
    ) {
        let _ = link.exchange(&provision::abort(&error), limits);
    }
    KioskError::Session(error)
}

/// Reads `--data`: a JSON object of namespace → {element: value}. Values: a string (text),
/// `true`/`false`, an integer, or `{"bytes": "<base64url>"}` (as `read` prints byte strings).
pub(crate) fn read_data(path: &Path) -> Result<NameSpaces, KioskError> {
    let bad = |what: String| KioskError::File(format!("{}: {what}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&files::read_text(path)?)
        .map_err(|e| bad(format!("not JSON ({e})")))?;
    let namespaces = json
        .as_object()
        .ok_or_else(|| bad("expected an object of namespaces".into()))?;
    let mut out = Vec::new();
    for (ns, elements) in namespaces {
        let elements = elements
            .as_object()
            .filter(|e| !e.is_empty())
            .ok_or_else(|| bad(format!("{ns}: expected a non-empty object of elements")))?;
        let mut list = Vec::new();
        for (name, value) in elements {
            let value = match value {
                serde_json::Value::String(text) => Value::Text(text.clone()),
                serde_json::Value::Bool(b) => Value::Bool(*b),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => Value::Integer(i.into()),
                    None => return Err(bad(format!("{ns}:{name}: only integers"))),
                },
                serde_json::Value::Object(o) if o.len() == 1 && o.contains_key("bytes") => {
                    let text = o["bytes"]
                        .as_str()
                        .ok_or_else(|| bad(format!("{ns}:{name}: bytes must be base64url")))?;
                    Value::Bytes(
                        <base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(
                            text.trim_end_matches('='),
                        )
                        .map_err(|_| bad(format!("{ns}:{name}: bytes must be base64url")))?,
                    )
                }
                _ => {
                    return Err(bad(format!(
                        "{ns}:{name}: a string, a boolean, an integer or {{\"bytes\": base64url}}"
                    )));
                }
            };
            list.push((name.clone(), value));
        }
        out.push((ns.clone(), list));
    }
    if out.is_empty() {
        return Err(bad("no namespace".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(text: &str) -> Result<NameSpaces, KioskError> {
        let dir = std::env::temp_dir().join(format!("kazashi-write-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{n}.json"));
        std::fs::write(&path, text).unwrap();
        let result = read_data(&path);
        let _ = std::fs::remove_file(&path);
        result
    }

    #[test]
    fn data_file_values() {
        let parsed = data(
            r#"{"ns": {"name": "Yamada", "adult": true, "n": 3, "photo": {"bytes": "q83v"}}}"#,
        )
        .unwrap();
        assert_eq!(parsed.len(), 1);
        let (ns, items) = &parsed[0];
        assert_eq!(ns, "ns");
        let get = |name: &str| {
            items
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(items.len(), 4);
        assert_eq!(get("name"), Some(Value::Text("Yamada".into())));
        assert_eq!(get("adult"), Some(Value::Bool(true)));
        assert_eq!(get("n"), Some(Value::Integer(3.into())));
        assert_eq!(get("photo"), Some(Value::Bytes(vec![0xAB, 0xCD, 0xEF])));
    }

    #[test]
    fn data_file_errors() {
        for bad in [
            "[]",
            "{}",
            r#"{"ns": {}}"#,
            r#"{"ns": {"x": 1.5}}"#,
            r#"{"ns": {"x": null}}"#,
            r#"{"ns": {"x": {"bytes": "!!"}}}"#,
            r#"{"ns": {"x": [1]}}"#,
            "not json",
        ] {
            let error = data(bad).unwrap_err();
            assert_eq!(error.code(), "file", "{bad}");
        }
    }
}
