//! The kiosk's JSON output for a verified document.

use base64ct::{Base64UrlUnpadded, Encoding};
use ciborium::Value;
use kazashi_protocol::offline::VerifiedDocument;
use kazashi_protocol::offline::mso::format_rfc3339;
use serde_json::{Map, Value as Json, json};

/// A CBOR data element as JSON: byte strings as unpadded base64url in `{"bytes": …}`,
/// full-date (1004) and tdate (0) tags as their text, other tags as `{"tag": n, "value": …}`.
pub(crate) fn cbor_to_json(value: &Value) -> Json {
    match value {
        Value::Integer(i) => {
            let i = i128::from(*i);
            i64::try_from(i)
                .map(Json::from)
                .unwrap_or_else(|_| Json::String(i.to_string()))
        }
        Value::Bytes(b) => json!({ "bytes": Base64UrlUnpadded::encode_string(b) }),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Text(t) => Json::String(t.clone()),
        Value::Bool(b) => Json::Bool(*b),
        Value::Null => Json::Null,
        Value::Tag(0 | 1004, inner) => cbor_to_json(inner),
        Value::Tag(tag, inner) => json!({ "tag": tag, "value": cbor_to_json(inner) }),
        Value::Array(items) => Json::Array(items.iter().map(cbor_to_json).collect()),
        Value::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let key = match k {
                    Value::Text(t) => t.clone(),
                    other => cbor_to_json(other).to_string(),
                };
                map.insert(key, cbor_to_json(v));
            }
            Json::Object(map)
        }
        _ => Json::Null,
    }
}

/// What `kazashi-kiosk read` prints.
pub(crate) fn document(doc: &VerifiedDocument, engagement: &str, reader_auth: bool) -> Json {
    let mut items = Map::new();
    for (ns, elements) in doc.items() {
        let mut values = Map::new();
        for (name, value) in elements {
            values.insert(name.clone(), cbor_to_json(value));
        }
        items.insert(ns.clone(), Json::Object(values));
    }
    let validity = doc.validity();
    json!({
        "doc_type": doc.doc_type(),
        "items": items,
        "issuer": {
            "subject": doc.issuer().subject(),
            "issuer": doc.issuer().issuer(),
        },
        "device_auth": doc.device_auth().as_str(),
        "validity": {
            "signed": format_rfc3339(validity.signed),
            "valid_from": format_rfc3339(validity.valid_from),
            "valid_until": format_rfc3339(validity.valid_until),
        },
        "engagement": engagement,
        "reader_auth": reader_auth,
    })
}
