//! Device engagement (18013-5 §8.2.1.1) and its QR form (§8.2.2.3).
//!
//! ```cddl
//! DeviceEngagement = {
//!   0: tstr,                       ; version
//!   1: Security,                   ; [1, EDeviceKeyBytes]
//!   ? 2: DeviceRetrievalMethods,   ; [+ [type, version, options]]
//!   * int => any
//! }
//! ```

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use base64ct::{Base64UrlUnpadded, Encoding};
use ciborium::value::Value;
use p256::PublicKey;

use super::cbor;
use super::cose;
use super::error::OfflineError;

/// The prefix of the device engagement in a QR code (§8.2.2.3).
pub const QR_PREFIX: &str = "mdoc:";

/// Longest device engagement accepted, in bytes.
pub const MAX_ENGAGEMENT_LEN: usize = 4096;

/// Retrieval method type NFC (§8.2.1.1, Table 3).
pub const METHOD_NFC: u64 = 1;
/// Retrieval method type BLE.
pub const METHOD_BLE: u64 = 2;
/// Retrieval method type Wi-Fi Aware.
pub const METHOD_WIFI_AWARE: u64 = 3;

/// NFC retrieval options: the largest command and response data fields the mdoc accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NfcOptions {
    /// Maximum length of the command data field (`0`).
    pub max_command_len: u32,
    /// Maximum length of the response data field (`1`).
    pub max_response_len: u32,
}

/// BLE retrieval options (§8.2.1.1, Table 6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BleOptions {
    /// mdoc peripheral server mode supported (`0`).
    pub peripheral_server: bool,
    /// mdoc central client mode supported (`1`).
    pub central_client: bool,
    /// The peripheral server mode service UUID (`10`).
    pub peripheral_server_uuid: Option<[u8; 16]>,
    /// The central client mode service UUID (`11`).
    pub central_client_uuid: Option<[u8; 16]>,
    /// The mdoc's BLE device address for peripheral server mode (`20`).
    pub address: Option<Vec<u8>>,
}

/// One device retrieval method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetrievalMethod {
    /// NFC (type 1).
    Nfc(NfcOptions),
    /// Bluetooth Low Energy (type 2).
    Ble(BleOptions),
    /// A type this implementation does not use (Wi-Fi Aware, proprietary).
    Other {
        /// The method type.
        kind: u64,
        /// The method version.
        version: u64,
    },
}

impl RetrievalMethod {
    fn to_value(&self) -> Value {
        let (kind, options) = match self {
            RetrievalMethod::Nfc(nfc) => (
                METHOD_NFC,
                vec![
                    (
                        cbor::uint_value(0),
                        cbor::uint_value(nfc.max_command_len.into()),
                    ),
                    (
                        cbor::uint_value(1),
                        cbor::uint_value(nfc.max_response_len.into()),
                    ),
                ],
            ),
            RetrievalMethod::Ble(ble) => {
                let mut options = vec![
                    (cbor::uint_value(0), Value::Bool(ble.peripheral_server)),
                    (cbor::uint_value(1), Value::Bool(ble.central_client)),
                ];
                if let Some(uuid) = ble.peripheral_server_uuid {
                    options.push((cbor::uint_value(10), Value::Bytes(uuid.to_vec())));
                }
                if let Some(uuid) = ble.central_client_uuid {
                    options.push((cbor::uint_value(11), Value::Bytes(uuid.to_vec())));
                }
                if let Some(address) = &ble.address {
                    options.push((cbor::uint_value(20), Value::Bytes(address.clone())));
                }
                (METHOD_BLE, options)
            }
            RetrievalMethod::Other { kind, version } => {
                return Value::Array(vec![
                    cbor::uint_value(*kind),
                    cbor::uint_value(*version),
                    Value::Map(Vec::new()),
                ]);
            }
        };
        Value::Array(vec![
            cbor::uint_value(kind),
            cbor::uint_value(1),
            Value::Map(options),
        ])
    }

    fn parse(raw: &[u8]) -> Result<Self, OfflineError> {
        const WHAT: &str = "DeviceRetrievalMethod";
        let [kind, version, options] = cbor::array(raw, WHAT)?[..] else {
            return Err(OfflineError::InvalidField(WHAT));
        };
        let kind = cbor::uint(kind, WHAT)?;
        let version = cbor::uint(version, WHAT)?;
        let options = cbor::map(options, WHAT)?;
        Ok(match kind {
            METHOD_NFC => {
                let len = |key| -> Result<u32, OfflineError> {
                    let raw = options.int(key).ok_or(OfflineError::MissingField(WHAT))?;
                    u32::try_from(cbor::uint(raw, WHAT)?)
                        .map_err(|_| OfflineError::InvalidField(WHAT))
                };
                RetrievalMethod::Nfc(NfcOptions {
                    max_command_len: len(0)?,
                    max_response_len: len(1)?,
                })
            }
            METHOD_BLE => {
                let flag = |key| -> Result<bool, OfflineError> {
                    options
                        .int(key)
                        .map_or(Ok(false), |raw| cbor::boolean(raw, WHAT))
                };
                let uuid = |key| -> Result<Option<[u8; 16]>, OfflineError> {
                    options
                        .int(key)
                        .map(|raw| {
                            cbor::bytes(raw, WHAT)?
                                .try_into()
                                .map_err(|_| OfflineError::InvalidField(WHAT))
                        })
                        .transpose()
                };
                RetrievalMethod::Ble(BleOptions {
                    peripheral_server: flag(0)?,
                    central_client: flag(1)?,
                    peripheral_server_uuid: uuid(10)?,
                    central_client_uuid: uuid(11)?,
                    address: options
                        .int(20)
                        .map(|raw| cbor::bytes(raw, WHAT).map(<[u8]>::to_vec))
                        .transpose()?,
                })
            }
            kind => RetrievalMethod::Other { kind, version },
        })
    }
}

/// A device engagement, with the bytes it was received or sent as.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceEngagement {
    raw: Vec<u8>,
    version: String,
    e_device_key: PublicKey,
    retrieval_methods: Vec<RetrievalMethod>,
}

impl core::fmt::Debug for DeviceEngagement {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceEngagement")
            .field("version", &self.version)
            .field("retrieval_methods", &self.retrieval_methods)
            .finish_non_exhaustive()
    }
}

impl DeviceEngagement {
    /// A version 1.0 engagement for the mdoc's ephemeral key `EDeviceKey`.
    pub fn new(e_device_key: &PublicKey, retrieval_methods: Vec<RetrievalMethod>) -> Self {
        let security = Value::Array(vec![
            cbor::uint_value(1),
            cbor::tag24_value(cose::encode_key(e_device_key)),
        ]);
        let mut members = vec![
            (cbor::uint_value(0), cbor::tstr("1.0")),
            (cbor::uint_value(1), security),
        ];
        if !retrieval_methods.is_empty() {
            members.push((
                cbor::uint_value(2),
                Value::Array(
                    retrieval_methods
                        .iter()
                        .map(RetrievalMethod::to_value)
                        .collect(),
                ),
            ));
        }
        Self {
            raw: cbor::encode(&Value::Map(members)),
            version: "1.0".into(),
            e_device_key: *e_device_key,
            retrieval_methods,
        }
    }

    /// Parses a device engagement; the bytes are kept as given for the transcript.
    pub fn parse(raw: &[u8]) -> Result<Self, OfflineError> {
        if raw.len() > MAX_ENGAGEMENT_LEN {
            return Err(OfflineError::MessageTooLarge);
        }
        let map = cbor::map(raw, "DeviceEngagement")?;
        let version = cbor::text(
            map.int(0).ok_or(OfflineError::MissingField("version"))?,
            "version",
        )?;
        // §8.2.1.1: "1.0", "1.1"…; a new major version is not backwards compatible.
        if !version.starts_with("1.") {
            return Err(OfflineError::UnsupportedVersion);
        }
        let security = map.int(1).ok_or(OfflineError::MissingField("Security"))?;
        let [suite, key] = cbor::array(security, "Security")?[..] else {
            return Err(OfflineError::InvalidField("Security"));
        };
        if cbor::int(suite, "Security")? != 1 {
            return Err(OfflineError::UnsupportedAlgorithm);
        }
        let e_device_key = cose::decode_key(cbor::tag24(key, "EDeviceKeyBytes")?)?;
        let retrieval_methods = match map.int(2) {
            Some(methods) => cbor::array(methods, "DeviceRetrievalMethods")?
                .into_iter()
                .map(RetrievalMethod::parse)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(Self {
            raw: raw.to_vec(),
            version,
            e_device_key,
            retrieval_methods,
        })
    }

    /// Parses the text of a QR code: `mdoc:` then the engagement in unpadded base64url.
    pub fn from_qr(text: &str) -> Result<Self, OfflineError> {
        let encoded = text
            .strip_prefix(QR_PREFIX)
            .ok_or(OfflineError::InvalidEngagementUri)?;
        if encoded.len() > MAX_ENGAGEMENT_LEN * 4 / 3 + 4 {
            return Err(OfflineError::MessageTooLarge);
        }
        let raw = Base64UrlUnpadded::decode_vec(encoded)
            .map_err(|_| OfflineError::InvalidEngagementUri)?;
        Self::parse(&raw)
    }

    /// The QR code text: `mdoc:` then the engagement in unpadded base64url.
    pub fn to_qr(&self) -> String {
        let mut out = String::from(QR_PREFIX);
        out.push_str(&Base64UrlUnpadded::encode_string(&self.raw));
        out
    }

    /// The engagement as received or sent: what `DeviceEngagementBytes` wraps.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The version string.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The mdoc's ephemeral public key `EDeviceKey`.
    pub fn e_device_key(&self) -> &PublicKey {
        &self.e_device_key
    }

    /// The device retrieval methods offered (empty for NFC handover, which carries them in
    /// the Handover Select message).
    pub fn retrieval_methods(&self) -> &[RetrievalMethod] {
        &self.retrieval_methods
    }

    /// The NFC retrieval options, if NFC is offered.
    pub fn nfc(&self) -> Option<NfcOptions> {
        self.retrieval_methods.iter().find_map(|m| match m {
            RetrievalMethod::Nfc(nfc) => Some(*nfc),
            _ => None,
        })
    }
}
