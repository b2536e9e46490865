//! COSE keys, `COSE_Sign1`, `COSE_Mac0`, `x5chain` and X.509 certificates (DER and PEM) never
//! panic; accepted keys re-encode to themselves; accepted certificates keep their bytes.
#![no_main]

use kazashi_protocol::offline::cose;
use kazashi_protocol::offline::pki::Certificate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = cose::decode_key(data) {
        let encoded = cose::encode_key(&key);
        assert_eq!(cose::decode_key(&encoded), Ok(key));
    }
    if let Ok(sign1) = cose::parse_sign1(data, "fuzz") {
        let _ = cose::check_es256(&sign1);
        if let Ok(chain) = cose::x5chain(&sign1) {
            assert!(!chain.is_empty() && chain.len() <= cose::MAX_CHAIN_LEN);
            for der in chain {
                let _ = Certificate::from_der(&der);
            }
        }
    }
    if let Ok(mac0) = cose::parse_mac0(data, "fuzz") {
        let _ = cose::check_hmac256(&mac0);
        let _ = cose::mac0_tbm(&mac0, data);
    }
    if let Ok(cert) = Certificate::from_der(data) {
        assert_eq!(cert.der(), data);
        let _ = (
            cert.subject(),
            cert.issuer(),
            cert.not_before(),
            cert.not_after(),
        );
        let _ = cert.is_issued_by(&cert);
        let pem = cert.to_pem();
        assert_eq!(Certificate::from_pem_chain(&pem).map(|c| c.len()), Ok(1));
    }
    if let Ok(text) = core::str::from_utf8(data) {
        let _ = Certificate::from_pem_chain(text);
    }
});
