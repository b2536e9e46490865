//! The mobile security object (18013-5 §9.1.2.4) and its dates.
//!
//! ```cddl
//! MobileSecurityObject = {
//!   "version": tstr, "digestAlgorithm": tstr,
//!   "valueDigests": { + NameSpace => { + DigestID => Digest } },
//!   "deviceKeyInfo": { "deviceKey": COSE_Key, ? "keyAuthorizations", ? "keyInfo" },
//!   "docType": tstr,
//!   "validityInfo": { "signed": tdate, "validFrom": tdate, "validUntil": tdate,
//!                     ? "expectedUpdate": tdate }
//! }
//! ```

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use ciborium::value::Value;
use p256::PublicKey;

use super::cbor;
use super::cose;
use super::error::OfflineError;

/// The only digest algorithm accepted and produced.
pub const DIGEST_ALGORITHM: &str = "SHA-256";

/// When an MSO is valid, seconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidityInfo {
    /// When the MSO was signed.
    pub signed: u64,
    /// Not valid before.
    pub valid_from: u64,
    /// Not valid after.
    pub valid_until: u64,
    /// When the issuer expects to update it.
    pub expected_update: Option<u64>,
}

impl ValidityInfo {
    /// Checks `validFrom <= now <= validUntil` (§9.3.1 step 5).
    pub fn check(&self, now: u64) -> Result<(), OfflineError> {
        if now < self.valid_from {
            return Err(OfflineError::MsoNotYetValid);
        }
        if now > self.valid_until {
            return Err(OfflineError::MsoExpired);
        }
        Ok(())
    }
}

/// Digest ID → SHA-256 digest, for one namespace.
pub type DigestIds = Vec<(u64, Vec<u8>)>;

/// A mobile security object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MobileSecurityObject {
    /// The version (`1.0`).
    pub version: String,
    /// Per namespace, digest ID → SHA-256 of the `IssuerSignedItemBytes`.
    pub value_digests: Vec<(String, DigestIds)>,
    /// The device key the mdoc proves possession of.
    pub device_key: PublicKey,
    /// The document type.
    pub doc_type: String,
    /// Validity.
    pub validity: ValidityInfo,
}

impl MobileSecurityObject {
    /// The digest recorded for an item.
    pub fn digest(&self, name_space: &str, digest_id: u64) -> Option<&[u8]> {
        self.value_digests
            .iter()
            .find(|(ns, _)| ns == name_space)?
            .1
            .iter()
            .find(|(id, _)| *id == digest_id)
            .map(|(_, d)| d.as_slice())
    }

    /// Parses an MSO (the content of `MobileSecurityObjectBytes`).
    pub fn parse(raw: &[u8]) -> Result<Self, OfflineError> {
        let map = cbor::map(raw, "MobileSecurityObject")?;
        let version = cbor::text(map.required("version")?, "version")?;
        if !version.starts_with("1.") {
            return Err(OfflineError::UnsupportedVersion);
        }
        if cbor::text(map.required("digestAlgorithm")?, "digestAlgorithm")? != DIGEST_ALGORITHM {
            return Err(OfflineError::UnsupportedAlgorithm);
        }
        let mut value_digests = Vec::new();
        for (ns, digests) in cbor::map(map.required("valueDigests")?, "valueDigests")?.entries {
            let cbor::Key::Text(ns) = ns else {
                return Err(OfflineError::InvalidField("valueDigests"));
            };
            let mut list = Vec::new();
            for (id, digest) in cbor::map(digests, "DigestIDs")?.entries {
                let cbor::Key::Int(id) = id else {
                    return Err(OfflineError::InvalidField("DigestIDs"));
                };
                let id = u64::try_from(id).map_err(|_| OfflineError::InvalidField("DigestID"))?;
                let digest = cbor::bytes(digest, "Digest")?;
                if digest.len() != 32 {
                    return Err(OfflineError::InvalidField("Digest"));
                }
                list.push((id, digest.to_vec()));
            }
            value_digests.push((ns, list));
        }
        let key_info = cbor::map(map.required("deviceKeyInfo")?, "deviceKeyInfo")?;
        let device_key = cose::decode_key(key_info.required("deviceKey")?)?;
        let doc_type = cbor::text(map.required("docType")?, "docType")?;
        let validity = cbor::map(map.required("validityInfo")?, "validityInfo")?;
        let date = |name: &'static str| -> Result<u64, OfflineError> {
            tdate(validity.required(name)?, name)
        };
        let validity = ValidityInfo {
            signed: date("signed")?,
            valid_from: date("validFrom")?,
            valid_until: date("validUntil")?,
            expected_update: validity
                .text("expectedUpdate")
                .map(|raw| tdate(raw, "expectedUpdate"))
                .transpose()?,
        };
        Ok(Self {
            version,
            value_digests,
            device_key,
            doc_type,
            validity,
        })
    }

    /// The encoded MSO.
    pub fn to_bytes(&self) -> Vec<u8> {
        let digests = self
            .value_digests
            .iter()
            .map(|(ns, list)| {
                let list = list
                    .iter()
                    .map(|(id, d)| (cbor::uint_value(*id), Value::Bytes(d.clone())))
                    .collect();
                (cbor::tstr(ns), Value::Map(list))
            })
            .collect();
        let device_key = cbor::decode(&cose::encode_key(&self.device_key)).unwrap_or(Value::Null);
        let mut validity = vec![
            (cbor::tstr("signed"), tdate_value(self.validity.signed)),
            (
                cbor::tstr("validFrom"),
                tdate_value(self.validity.valid_from),
            ),
            (
                cbor::tstr("validUntil"),
                tdate_value(self.validity.valid_until),
            ),
        ];
        if let Some(update) = self.validity.expected_update {
            validity.push((cbor::tstr("expectedUpdate"), tdate_value(update)));
        }
        cbor::encode(&Value::Map(vec![
            (cbor::tstr("version"), cbor::tstr(&self.version)),
            (cbor::tstr("digestAlgorithm"), cbor::tstr(DIGEST_ALGORITHM)),
            (cbor::tstr("valueDigests"), Value::Map(digests)),
            (
                cbor::tstr("deviceKeyInfo"),
                Value::Map(vec![(cbor::tstr("deviceKey"), device_key)]),
            ),
            (cbor::tstr("docType"), cbor::tstr(&self.doc_type)),
            (cbor::tstr("validityInfo"), Value::Map(validity)),
        ]))
    }
}

/// A `tdate` (`#6.0(tstr)`, RFC 3339) as seconds since the Unix epoch.
///
/// 18013-5 §9.1.2.4 wants UTC without fractional seconds; fractions are accepted and
/// truncated, and numeric offsets are applied, so that slightly lax issuers still verify.
pub(crate) fn tdate(raw: &[u8], what: &'static str) -> Result<u64, OfflineError> {
    match cbor::decode(raw)? {
        Value::Tag(0, inner) => match *inner {
            Value::Text(text) => parse_rfc3339(&text).ok_or(OfflineError::InvalidField(what)),
            _ => Err(OfflineError::InvalidField(what)),
        },
        _ => Err(OfflineError::InvalidField(what)),
    }
}

fn tdate_value(seconds: u64) -> Value {
    Value::Tag(0, Box::new(Value::Text(format_rfc3339(seconds))))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` (RFC 3339 §5.6).
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let s = text.as_bytes();
    if s.len() < 20 || s[4] != b'-' || s[7] != b'-' || !matches!(s[10], b'T' | b't') {
        return None;
    }
    if s[13] != b':' || s[16] != b':' {
        return None;
    }
    let year = digits(&s[0..4])?;
    let month = digits(&s[5..7])?;
    let day = digits(&s[8..10])?;
    let hour = digits(&s[11..13])?;
    let minute = digits(&s[14..16])?;
    let second = digits(&s[17..19])?;
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let minutes = digits(&[*h1, *h2])? * 60 + digits(&[*m1, *m2])?;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second.min(59)
            - offset * 60;
    u64::try_from(seconds).ok()
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rem = seconds % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        // 18013-5 Annex D validity: 2020-10-01T13:30:02Z.
        assert_eq!(parse_rfc3339("2020-10-01T13:30:02Z"), Some(1_601_559_002));
        assert_eq!(format_rfc3339(1_601_559_002), "2020-10-01T13:30:02Z");
        assert_eq!(
            parse_rfc3339("2020-10-01T15:30:02.123+02:00"),
            Some(1_601_559_002)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2020-13-01T00:00:00Z",
            "2020-10-01 13:30:02Z",
            "2020-10-01T13:30:02",
            "2020-10-01T13:30:02.Z",
            "1969-12-31T23:59:59Z",
            "2020-10-01T24:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        for t in [0, 951_782_400, 1_601_559_002, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t));
        }
    }
}
