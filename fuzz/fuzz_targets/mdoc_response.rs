//! Device responses, issuer-signed data and mobile security objects never panic; accepted
//! ones re-encode to a normal form that is stable; issuer verification against an empty
//! trust list refuses without panicking.
#![no_main]

use kazashi_protocol::offline::mso::MobileSecurityObject;
use kazashi_protocol::offline::pki::TrustList;
use kazashi_protocol::offline::verify;
use kazashi_protocol::offline::{DeviceResponse, IssuerSigned};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = DeviceResponse::parse(data) {
        let encoded = response.to_bytes();
        let again = DeviceResponse::parse(&encoded).expect("our encoding parses");
        assert_eq!(again.to_bytes(), encoded);
        for doc in &response.documents {
            assert!(
                verify::verify_issuer_auth(&doc.issuer_signed, &TrustList::default(), 0).is_err()
            );
        }
    }
    if let Ok(issuer_signed) = IssuerSigned::parse(data) {
        let encoded = issuer_signed.to_bytes();
        let again = IssuerSigned::parse(&encoded).expect("our encoding parses");
        assert_eq!(again.to_bytes(), encoded);
        let none = issuer_signed.select(|_, _| false);
        assert!(none.name_spaces.is_empty());
    }
    if let Ok(mso) = MobileSecurityObject::parse(data) {
        assert_eq!(
            MobileSecurityObject::parse(&mso.to_bytes()).as_ref(),
            Ok(&mso)
        );
    }
});
