//! Device request (18013-5 §8.3.2.1.2.1) and reader authentication (§9.1.4).
//!
//! ```cddl
//! DeviceRequest = { "version": tstr, "docRequests": [+ DocRequest] }
//! DocRequest = { "itemsRequest": ItemsRequestBytes, ? "readerAuth": ReaderAuth }
//! ItemsRequest = { "docType": tstr, "nameSpaces": { + tstr => { + tstr => bool } },
//!                  ? "requestInfo": { * tstr => any } }
//! ReaderAuthentication = ["ReaderAuthentication", SessionTranscript, ItemsRequestBytes]
//! ```

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use ciborium::value::Value;
use p256::ecdsa::SigningKey;

use super::cbor;
use super::cose;
use super::error::OfflineError;
use super::pki::{Certificate, TrustList, Usage};
use super::transcript::SessionTranscript;

/// Most document requests in one device request.
pub const MAX_DOC_REQUESTS: usize = 16;

/// What a reader asks of one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemsRequest {
    /// The document type (`org.iso.18013.5.1.mDL`).
    pub doc_type: String,
    /// Per namespace, the data element identifiers and whether the reader intends to retain
    /// each one.
    pub name_spaces: Vec<(String, Vec<(String, bool)>)>,
}

impl ItemsRequest {
    /// A request for `doc_type` with no elements yet.
    pub fn new(doc_type: &str) -> Self {
        Self {
            doc_type: doc_type.into(),
            name_spaces: Vec::new(),
        }
    }

    /// Adds an element.
    pub fn with(mut self, name_space: &str, element: &str, intent_to_retain: bool) -> Self {
        let entry = (element.into(), intent_to_retain);
        match self.name_spaces.iter_mut().find(|(ns, _)| ns == name_space) {
            Some((_, elements)) => elements.push(entry),
            None => self.name_spaces.push((name_space.into(), vec![entry])),
        }
        self
    }

    /// Whether the element is requested.
    pub fn requests(&self, name_space: &str, element: &str) -> bool {
        self.name_spaces
            .iter()
            .any(|(ns, els)| ns == name_space && els.iter().any(|(e, _)| e == element))
    }

    /// The encoded `ItemsRequest`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let name_spaces = self
            .name_spaces
            .iter()
            .map(|(ns, elements)| {
                let elements = elements
                    .iter()
                    .map(|(e, retain)| (cbor::tstr(e), Value::Bool(*retain)))
                    .collect();
                (cbor::tstr(ns), Value::Map(elements))
            })
            .collect();
        cbor::encode(&Value::Map(vec![
            (cbor::tstr("docType"), cbor::tstr(&self.doc_type)),
            (cbor::tstr("nameSpaces"), Value::Map(name_spaces)),
        ]))
    }

    /// Parses an `ItemsRequest` (`requestInfo` is accepted and ignored).
    pub fn parse(raw: &[u8]) -> Result<Self, OfflineError> {
        let map = cbor::map(raw, "ItemsRequest")?;
        let doc_type = cbor::text(map.required("docType")?, "docType")?;
        let mut name_spaces = Vec::new();
        for (ns, elements) in cbor::map(map.required("nameSpaces")?, "nameSpaces")?.entries {
            let cbor::Key::Text(ns) = ns else {
                return Err(OfflineError::InvalidField("nameSpaces"));
            };
            let mut list = Vec::new();
            for (element, retain) in cbor::map(elements, "DataElements")?.entries {
                let cbor::Key::Text(element) = element else {
                    return Err(OfflineError::InvalidField("DataElements"));
                };
                list.push((element, cbor::boolean(retain, "IntentToRetain")?));
            }
            if list.is_empty() {
                return Err(OfflineError::InvalidField("DataElements"));
            }
            name_spaces.push((ns, list));
        }
        if name_spaces.is_empty() {
            return Err(OfflineError::InvalidField("nameSpaces"));
        }
        Ok(Self {
            doc_type,
            name_spaces,
        })
    }
}

/// One document request, keeping `ItemsRequestBytes` as received for reader authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocRequest {
    items_request_bytes: Vec<u8>,
    items_request: ItemsRequest,
    reader_auth: Option<Vec<u8>>,
}

/// The encoded `ReaderAuthenticationBytes` (the detached payload of `readerAuth`).
fn reader_authentication_bytes(
    transcript: &SessionTranscript,
    items_request_bytes: &[u8],
) -> Vec<u8> {
    let mut array = vec![0x83];
    array.extend(cbor::encode(&cbor::tstr("ReaderAuthentication")));
    array.extend_from_slice(transcript.as_bytes());
    array.extend_from_slice(items_request_bytes);
    cbor::wrap_tag24(&array)
}

impl DocRequest {
    /// A request without reader authentication.
    pub fn new(items_request: ItemsRequest) -> Self {
        Self {
            items_request_bytes: cbor::wrap_tag24(&items_request.to_bytes()),
            items_request,
            reader_auth: None,
        }
    }

    /// A request signed by the reader (§9.1.4): `COSE_Sign1` ES256 over the detached
    /// `ReaderAuthenticationBytes`, with the reader's certificate chain in `x5chain`.
    pub fn signed(
        items_request: ItemsRequest,
        transcript: &SessionTranscript,
        reader_key: &SigningKey,
        chain: &[Vec<u8>],
    ) -> Self {
        let mut request = Self::new(items_request);
        let payload = reader_authentication_bytes(transcript, &request.items_request_bytes);
        request.reader_auth = Some(cose::encode(cose::sign1_detached(
            reader_key, &payload, chain,
        )));
        request
    }

    fn parse(raw: &[u8]) -> Result<Self, OfflineError> {
        let map = cbor::map(raw, "DocRequest")?;
        let items_request_bytes = map.required("itemsRequest")?;
        let items_request = ItemsRequest::parse(cbor::tag24(items_request_bytes, "itemsRequest")?)?;
        let reader_auth = map.text("readerAuth").map(<[u8]>::to_vec);
        if let Some(raw) = &reader_auth {
            cose::parse_sign1(raw, "readerAuth")?;
        }
        Ok(Self {
            items_request_bytes: items_request_bytes.to_vec(),
            items_request,
            reader_auth,
        })
    }

    fn to_value_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        cbor::push_head(&mut out, 5, 1 + u64::from(self.reader_auth.is_some()));
        out.extend(cbor::encode(&cbor::tstr("itemsRequest")));
        out.extend_from_slice(&self.items_request_bytes);
        if let Some(auth) = &self.reader_auth {
            out.extend(cbor::encode(&cbor::tstr("readerAuth")));
            out.extend_from_slice(auth);
        }
        out
    }

    /// What is requested.
    pub fn items_request(&self) -> &ItemsRequest {
        &self.items_request
    }

    /// `ItemsRequestBytes` as received.
    pub fn items_request_bytes(&self) -> &[u8] {
        &self.items_request_bytes
    }

    /// Whether the request carries reader authentication.
    pub fn has_reader_auth(&self) -> bool {
        self.reader_auth.is_some()
    }

    /// Verifies reader authentication (§9.1.4.5): the reader certificate chains to `trust`
    /// for reader authentication and is valid at `now`, and its key verifies the signature
    /// over `ReaderAuthenticationBytes` for this session. `Ok(None)` when the request is not
    /// signed; the caller's policy decides whether that is acceptable.
    pub fn verify_reader_auth(
        &self,
        transcript: &SessionTranscript,
        trust: &TrustList,
        now: u64,
    ) -> Result<Option<Certificate>, OfflineError> {
        let Some(raw) = &self.reader_auth else {
            return Ok(None);
        };
        let sign1 = cose::parse_sign1(raw, "readerAuth")?;
        cose::check_es256(&sign1)?;
        if sign1.payload.is_some() {
            return Err(OfflineError::InvalidField("readerAuth"));
        }
        let reader = trust.verify_chain(&cose::x5chain(&sign1)?, Usage::ReaderAuth, now)?;
        let payload = reader_authentication_bytes(transcript, &self.items_request_bytes);
        let tbs = sign1.tbs_detached_data(&payload, &[]);
        if !cose::verify_es256(reader.public_key(), &tbs, &sign1.signature) {
            return Err(OfflineError::InvalidReaderSignature);
        }
        Ok(Some(reader))
    }
}

/// A device request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRequest {
    /// The version (`1.0`).
    pub version: String,
    /// The documents requested.
    pub doc_requests: Vec<DocRequest>,
}

impl DeviceRequest {
    /// A version 1.0 request.
    pub fn new(doc_requests: Vec<DocRequest>) -> Self {
        Self {
            version: "1.0".into(),
            doc_requests,
        }
    }

    /// Parses a device request.
    pub fn parse(raw: &[u8]) -> Result<Self, OfflineError> {
        let map = cbor::map(raw, "DeviceRequest")?;
        let version = cbor::text(map.required("version")?, "version")?;
        if !version.starts_with("1.") {
            return Err(OfflineError::UnsupportedVersion);
        }
        let docs = cbor::array(map.required("docRequests")?, "docRequests")?;
        if docs.is_empty() || docs.len() > MAX_DOC_REQUESTS {
            return Err(OfflineError::InvalidField("docRequests"));
        }
        let doc_requests = docs
            .into_iter()
            .map(DocRequest::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            version,
            doc_requests,
        })
    }

    /// The encoded request.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0xA2];
        out.extend(cbor::encode(&cbor::tstr("version")));
        out.extend(cbor::encode(&cbor::tstr(&self.version)));
        out.extend(cbor::encode(&cbor::tstr("docRequests")));
        cbor::push_head(&mut out, 4, self.doc_requests.len() as u64);
        for doc in &self.doc_requests {
            out.extend(doc.to_value_bytes());
        }
        out
    }
}
