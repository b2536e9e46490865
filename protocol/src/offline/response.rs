//! Device response (18013-5 §8.3.2.1.2.2), issuer-signed and device-signed data.
//!
//! ```cddl
//! DeviceResponse = { "version": tstr, ? "documents": [+ Document],
//!                    ? "documentErrors": [+ DocumentError], "status": uint }
//! Document = { "docType": tstr, "issuerSigned": IssuerSigned,
//!              "deviceSigned": DeviceSigned, ? "errors": Errors }
//! IssuerSigned = { ? "nameSpaces": { + NameSpace => [+ IssuerSignedItemBytes] },
//!                  "issuerAuth": COSE_Sign1 }
//! IssuerSignedItem = { "digestID": uint, "random": bstr,
//!                      "elementIdentifier": tstr, "elementValue": any }
//! DeviceSigned = { "nameSpaces": DeviceNameSpacesBytes,
//!                  "deviceAuth": { "deviceSignature": COSE_Sign1 } / { "deviceMac": COSE_Mac0 } }
//! ```
//!
//! Every `#6.24` item is kept as received: the MSO digests cover `IssuerSignedItemBytes` and
//! device authentication covers `DeviceNameSpacesBytes`.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use ciborium::value::Value;
use sha2::{Digest, Sha256};

use super::cbor;
use super::error::OfflineError;

/// Most documents in one response.
pub const MAX_DOCUMENTS: usize = 16;

/// Device response status: OK (§8.3.2.1.2.3, Table 8).
pub const STATUS_OK: u64 = 0;
/// Device response status: general error.
pub const STATUS_GENERAL_ERROR: u64 = 10;
/// Device response status: CBOR decoding error.
pub const STATUS_CBOR_DECODING_ERROR: u64 = 11;
/// Device response status: CBOR validation error.
pub const STATUS_CBOR_VALIDATION_ERROR: u64 = 12;

/// One issuer-signed data element, with its `IssuerSignedItemBytes`.
#[derive(Clone, Debug, PartialEq)]
pub struct IssuerSignedItem {
    bytes: Vec<u8>,
    /// The digest ID the MSO records it under.
    pub digest_id: u64,
    /// The salt (at least 16 bytes, §9.1.2.5).
    pub random: Vec<u8>,
    /// The data element identifier.
    pub element_identifier: String,
    /// The data element value.
    pub element_value: Value,
}

impl IssuerSignedItem {
    /// An item, encoded now.
    pub fn new(
        digest_id: u64,
        random: Vec<u8>,
        element_identifier: &str,
        element_value: Value,
    ) -> Self {
        let inner = cbor::encode(&Value::Map(vec![
            (cbor::tstr("digestID"), cbor::uint_value(digest_id)),
            (cbor::tstr("random"), Value::Bytes(random.clone())),
            (
                cbor::tstr("elementIdentifier"),
                cbor::tstr(element_identifier),
            ),
            (cbor::tstr("elementValue"), element_value.clone()),
        ]));
        Self {
            bytes: cbor::wrap_tag24(&inner),
            digest_id,
            random,
            element_identifier: element_identifier.into(),
            element_value,
        }
    }

    fn parse(raw: &[u8]) -> Result<Self, OfflineError> {
        let map = cbor::map(
            cbor::tag24(raw, "IssuerSignedItemBytes")?,
            "IssuerSignedItem",
        )?;
        Ok(Self {
            bytes: raw.to_vec(),
            digest_id: cbor::uint(map.required("digestID")?, "digestID")?,
            random: cbor::bytes(map.required("random")?, "random")?.to_vec(),
            element_identifier: cbor::text(
                map.required("elementIdentifier")?,
                "elementIdentifier",
            )?,
            element_value: cbor::decode(map.required("elementValue")?)?,
        })
    }

    /// `IssuerSignedItemBytes` as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// SHA-256 of `IssuerSignedItemBytes` (§9.1.2.5).
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(&self.bytes).into()
    }
}

/// Issuer-signed data: disclosed items and the issuer's signature over the MSO.
#[derive(Clone, Debug, PartialEq)]
pub struct IssuerSigned {
    /// Per namespace, the disclosed items.
    pub name_spaces: Vec<(String, Vec<IssuerSignedItem>)>,
    /// The `issuerAuth` `COSE_Sign1`, as received.
    pub issuer_auth: Vec<u8>,
}

impl IssuerSigned {
    /// Parses issuer-signed data.
    pub fn parse(raw: &[u8]) -> Result<Self, OfflineError> {
        let map = cbor::map(raw, "IssuerSigned")?;
        let mut name_spaces = Vec::new();
        if let Some(ns_raw) = map.text("nameSpaces") {
            for (ns, items) in cbor::map(ns_raw, "IssuerNameSpaces")?.entries {
                let cbor::Key::Text(ns) = ns else {
                    return Err(OfflineError::InvalidField("IssuerNameSpaces"));
                };
                let items = cbor::array(items, "IssuerSignedItems")?
                    .into_iter()
                    .map(IssuerSignedItem::parse)
                    .collect::<Result<Vec<_>, _>>()?;
                if items.is_empty() {
                    return Err(OfflineError::InvalidField("IssuerSignedItems"));
                }
                name_spaces.push((ns, items));
            }
        }
        let issuer_auth = map.required("issuerAuth")?;
        cbor::array(issuer_auth, "issuerAuth")?;
        Ok(Self {
            name_spaces,
            issuer_auth: issuer_auth.to_vec(),
        })
    }

    /// The encoded structure, items and `issuerAuth` as they are.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let has_ns = !self.name_spaces.is_empty();
        cbor::push_head(&mut out, 5, 1 + u64::from(has_ns));
        if has_ns {
            out.extend(cbor::encode(&cbor::tstr("nameSpaces")));
            cbor::push_head(&mut out, 5, self.name_spaces.len() as u64);
            for (ns, items) in &self.name_spaces {
                out.extend(cbor::encode(&cbor::tstr(ns)));
                cbor::push_head(&mut out, 4, items.len() as u64);
                for item in items {
                    out.extend_from_slice(&item.bytes);
                }
            }
        }
        out.extend(cbor::encode(&cbor::tstr("issuerAuth")));
        out.extend_from_slice(&self.issuer_auth);
        out
    }

    /// Only the items `keep` selects (selective disclosure), namespaces left empty dropped.
    pub fn select(&self, mut keep: impl FnMut(&str, &str) -> bool) -> Self {
        let name_spaces = self
            .name_spaces
            .iter()
            .filter_map(|(ns, items)| {
                let items: Vec<_> = items
                    .iter()
                    .filter(|item| keep(ns, &item.element_identifier))
                    .cloned()
                    .collect();
                (!items.is_empty()).then(|| (ns.clone(), items))
            })
            .collect();
        Self {
            name_spaces,
            issuer_auth: self.issuer_auth.clone(),
        }
    }
}

/// How the mdoc authenticated (§9.1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceAuth {
    /// `deviceSignature`: a `COSE_Sign1`, as received.
    Signature(Vec<u8>),
    /// `deviceMac`: a `COSE_Mac0`, as received.
    Mac(Vec<u8>),
}

/// Device-signed data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceSigned {
    /// `DeviceNameSpacesBytes` as received.
    pub name_spaces_bytes: Vec<u8>,
    /// The device authentication.
    pub device_auth: DeviceAuth,
}

impl DeviceSigned {
    fn parse(raw: &[u8]) -> Result<Self, OfflineError> {
        let map = cbor::map(raw, "DeviceSigned")?;
        let name_spaces_bytes = map.required("nameSpaces")?;
        cbor::map(
            cbor::tag24(name_spaces_bytes, "DeviceNameSpacesBytes")?,
            "DeviceNameSpaces",
        )?;
        let auth = cbor::map(map.required("deviceAuth")?, "deviceAuth")?;
        let device_auth = match (auth.text("deviceSignature"), auth.text("deviceMac")) {
            (Some(sig), None) => DeviceAuth::Signature(sig.to_vec()),
            (None, Some(mac)) => DeviceAuth::Mac(mac.to_vec()),
            (None, None) => return Err(OfflineError::MissingField("deviceAuth")),
            (Some(_), Some(_)) => return Err(OfflineError::InvalidField("deviceAuth")),
        };
        Ok(Self {
            name_spaces_bytes: name_spaces_bytes.to_vec(),
            device_auth,
        })
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(0xA2);
        out.extend(cbor::encode(&cbor::tstr("nameSpaces")));
        out.extend_from_slice(&self.name_spaces_bytes);
        out.extend(cbor::encode(&cbor::tstr("deviceAuth")));
        out.push(0xA1);
        let (key, raw) = match &self.device_auth {
            DeviceAuth::Signature(raw) => ("deviceSignature", raw),
            DeviceAuth::Mac(raw) => ("deviceMac", raw),
        };
        out.extend(cbor::encode(&cbor::tstr(key)));
        out.extend_from_slice(raw);
    }
}

/// One returned document.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The document type.
    pub doc_type: String,
    /// Issuer-signed data.
    pub issuer_signed: IssuerSigned,
    /// Device-signed data.
    pub device_signed: DeviceSigned,
}

impl Document {
    fn parse(raw: &[u8]) -> Result<Self, OfflineError> {
        let map = cbor::map(raw, "Document")?;
        Ok(Self {
            doc_type: cbor::text(map.required("docType")?, "docType")?,
            issuer_signed: IssuerSigned::parse(map.required("issuerSigned")?)?,
            device_signed: DeviceSigned::parse(map.required("deviceSigned")?)?,
        })
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(0xA3);
        out.extend(cbor::encode(&cbor::tstr("docType")));
        out.extend(cbor::encode(&cbor::tstr(&self.doc_type)));
        out.extend(cbor::encode(&cbor::tstr("issuerSigned")));
        out.extend(self.issuer_signed.to_bytes());
        out.extend(cbor::encode(&cbor::tstr("deviceSigned")));
        self.device_signed.encode_into(out);
    }
}

/// A device response.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceResponse {
    /// The version (`1.0`).
    pub version: String,
    /// The documents returned.
    pub documents: Vec<Document>,
    /// Documents not returned: doc type and error code.
    pub document_errors: Vec<(String, i64)>,
    /// The status (0 OK, 10, 11, 12).
    pub status: u64,
}

impl DeviceResponse {
    /// A version 1.0 response with status OK.
    pub fn new(documents: Vec<Document>) -> Self {
        Self {
            version: "1.0".into(),
            documents,
            document_errors: Vec::new(),
            status: STATUS_OK,
        }
    }

    /// A response that only reports an error status.
    pub fn error(status: u64) -> Self {
        Self {
            version: "1.0".into(),
            documents: Vec::new(),
            document_errors: Vec::new(),
            status,
        }
    }

    /// Parses a device response.
    pub fn parse(raw: &[u8]) -> Result<Self, OfflineError> {
        let map = cbor::map(raw, "DeviceResponse")?;
        let version = cbor::text(map.required("version")?, "version")?;
        if !version.starts_with("1.") {
            return Err(OfflineError::UnsupportedVersion);
        }
        let documents = match map.text("documents") {
            Some(docs) => {
                let docs = cbor::array(docs, "documents")?;
                if docs.is_empty() || docs.len() > MAX_DOCUMENTS {
                    return Err(OfflineError::InvalidField("documents"));
                }
                docs.into_iter()
                    .map(Document::parse)
                    .collect::<Result<_, _>>()?
            }
            None => Vec::new(),
        };
        let mut document_errors = Vec::new();
        if let Some(errors) = map.text("documentErrors") {
            for error in cbor::array(errors, "documentErrors")? {
                for (doc_type, code) in cbor::map(error, "DocumentError")?.entries {
                    let cbor::Key::Text(doc_type) = doc_type else {
                        return Err(OfflineError::InvalidField("DocumentError"));
                    };
                    let code = i64::try_from(cbor::int(code, "ErrorCode")?)
                        .map_err(|_| OfflineError::InvalidField("ErrorCode"))?;
                    document_errors.push((doc_type, code));
                }
            }
        }
        let status = cbor::uint(map.required("status")?, "status")?;
        Ok(Self {
            version,
            documents,
            document_errors,
            status,
        })
    }

    /// The encoded response.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let members =
            2 + u64::from(!self.documents.is_empty()) + u64::from(!self.document_errors.is_empty());
        cbor::push_head(&mut out, 5, members);
        out.extend(cbor::encode(&cbor::tstr("version")));
        out.extend(cbor::encode(&cbor::tstr(&self.version)));
        if !self.documents.is_empty() {
            out.extend(cbor::encode(&cbor::tstr("documents")));
            cbor::push_head(&mut out, 4, self.documents.len() as u64);
            for doc in &self.documents {
                doc.encode_into(&mut out);
            }
        }
        if !self.document_errors.is_empty() {
            out.extend(cbor::encode(&cbor::tstr("documentErrors")));
            let errors = self
                .document_errors
                .iter()
                .map(|(doc_type, code)| {
                    Value::Map(vec![(cbor::tstr(doc_type), cbor::int_value(*code))])
                })
                .collect();
            out.extend(cbor::encode(&Value::Array(errors)));
        }
        out.extend(cbor::encode(&cbor::tstr("status")));
        out.extend(cbor::encode(&cbor::uint_value(self.status)));
        out
    }
}
