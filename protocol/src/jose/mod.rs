//! JOSE for kazashi's envelopes: P-256 JWKs, JWS ES256 and JWE ECDH-ES(+A256KW)/A256GCM in
//! compact serialization, verified the RFC 8725 way.
//!
//! - [`b64`]: strict unpadded base64url.
//! - [`json`]: strict JSON objects (no duplicate member names).
//! - [`jwk`]: [`PublicKey`], [`PrivateKey`], the wire form [`Jwk`] and [`JwkSet`], RFC 7638
//!   thumbprints.
//! - [`jws`]: [`jws::sign`], [`jws::decode`] then [`UnverifiedJws::verify`](jws::UnverifiedJws::verify),
//!   or [`jws::verify`].
//! - [`jwe`]: [`jwe::encrypt`], [`jwe::decode`] then
//!   [`EncryptedJwe::decrypt`](jwe::EncryptedJwe::decrypt), or [`jwe::decrypt`].
//!
//! Every failure is a [`JoseError`] with a stable [`code`](JoseError::code). Randomness is
//! passed in; nothing here panics on any input.
//!
//! Each operation also comes in halves, sans-IO about cryptography, for a caller whose ECDSA,
//! ECDH and AES run elsewhere (the npm package uses WebCrypto): [`jws::signing_input`] then
//! [`SigningInput::finish`](jws::SigningInput::finish); [`jws::decode`] then
//! [`UnverifiedJws::finish`](jws::UnverifiedJws::finish); [`jwe::prepare_encryption`] then
//! [`PreparedJwe::agree`](jwe::PreparedJwe::agree) and
//! [`finish`](jwe::PreparedJwe::finish); [`jwe::decode`] then
//! [`EncryptedJwe::agree`](jwe::EncryptedJwe::agree) and
//! [`finish`](jwe::EncryptedJwe::finish); [`UncheckedPrivateKey`] for keys. Every check and
//! error code stays here; the caller only computes. The all-in-one functions are built on
//! them with this crate's RustCrypto primitives ([`PrivateKey::sign_es256`],
//! [`PublicKey::verify_es256`], [`PrivateKey::shared_secret`], [`jwe::encrypt_content`],
//! [`jwe::decrypt_content`]).
//!
//! ```
//! use kazashi_protocol::jose::{HeaderParams, PrivateKey, jwe, jws};
//!
//! let mut rng = rand_core::OsRng;
//! let provider = PrivateKey::generate(&mut rng);
//! let server = PrivateKey::generate(&mut rng);
//!
//! let header = HeaderParams::new()
//!     .with_typ("kazashi-command+jwt")
//!     .with_kid(provider.public_key().thumbprint());
//! let signed = jws::sign(&header, br#"{"jti":"1"}"#, &provider).unwrap();
//! let sealed = jwe::encrypt(
//!     signed.as_bytes(),
//!     &server.public_key(),
//!     jwe::KeyManagement::EcdhEsA256Kw,
//!     &HeaderParams::new().with_cty("JWT"),
//!     &mut rng,
//! )
//! .unwrap();
//!
//! let opened = jwe::decrypt(&sealed, &server).unwrap();
//! let token = core::str::from_utf8(&opened.plaintext).unwrap();
//! let unverified = jws::decode(token).unwrap();
//! assert_eq!(unverified.header().typ.as_deref(), Some("kazashi-command+jwt"));
//! let verified = unverified.verify(&provider.public_key()).unwrap();
//! assert_eq!(verified.payload(), br#"{"jti":"1"}"#);
//! ```

pub mod b64;
mod ec;
mod error;
mod header;
pub mod json;
pub mod jwe;
pub mod jwk;
pub mod jws;
mod kdf;

pub use error::JoseError;
pub use header::HeaderParams;
pub use jwk::{Jwk, JwkSet, PrivateKey, PublicKey, UncheckedPrivateKey};

/// The largest compact JWS or JWE accepted or produced: 256 KiB.
///
/// Far above any envelope (a sealed command with a few dozen operations is a few KiB) and
/// small enough that decoding, which allocates a few times the token's size, stays cheap for
/// a server facing untrusted input. Checked before any other work.
pub const MAX_TOKEN_LEN: usize = 256 * 1024;
