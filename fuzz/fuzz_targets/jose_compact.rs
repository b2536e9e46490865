//! Compact JWS and JWE parsing never panics on any input, and refuses what it cannot verify:
//! a fixed key must never verify a token the fuzzer made up, and decryption with a fixed key
//! must never succeed on a token the fuzzer made up.
#![no_main]

use std::sync::OnceLock;

use kazashi_protocol::jose::{PrivateKey, PublicKey, jwe, jws};
use libfuzzer_sys::fuzz_target;

fn keys() -> &'static (PrivateKey, PublicKey) {
    static KEYS: OnceLock<(PrivateKey, PublicKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = PrivateKey::from_bytes(&[7; 32]).expect("a valid scalar");
        let public = key.public_key();
        (key, public)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let (key, public) = keys();
    if let Ok(unverified) = jws::decode(text) {
        let _ = unverified.header();
        assert!(unverified.verify(public).is_err(), "forged JWS verified");
    }
    if let Ok(sealed) = jwe::decode(text) {
        let _ = sealed.header();
        assert!(sealed.decrypt(key).is_err(), "forged JWE decrypted");
    }
    let _ = kazashi_protocol::jose::json::parse_object(data);
    let _ = kazashi_protocol::jose::b64::decode(text);
});
