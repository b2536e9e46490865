//! `kazashi-se`: a virtual secure element that behaves like a GlobalPlatform card.
//!
//! - an issuer security domain with SCP03 (card side of `kazashi_protocol::scp03`): SELECT,
//!   INITIALIZE UPDATE, EXTERNAL AUTHENTICATE, GET DATA (`0066`, `00E0`, `9F7F`, `0045`),
//!   GET STATUS, secure messaging enforced at the session's level;
//! - kazashi's ID-store applet (`docs/applet.md`): records, counters with a floor at zero,
//!   and P-256 keys generated on the chip;
//! - a card profile like a real card's (ISD AID, key version, keys, key diversification
//!   data, S8/S16, pseudo-random or random challenge, sequence counter);
//! - durable state in one file, replaced atomically before every response that changed it.
//!
//! It runs in-process ([`VirtualCard`] implements [`CardTransport`]) or attached to pcscd
//! through vsmartcard's vpcd ([`vpcd::serve`]), where every PC/SC tool sees it in
//! "Virtual PCD 00 00". [`PcscReader`] is the other side: a [`CardTransport`] over PC/SC.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod applet;
pub mod card;
pub mod state;
#[cfg(feature = "fs")]
pub mod store;
pub mod transport;
#[cfg(feature = "vpcd")]
pub mod vpcd;

pub use card::{Selected, VirtualCard};
pub use state::{CardState, ChallengeMode, KeySet, Profile, StateError};
#[cfg(feature = "fs")]
pub use store::{Store, StoreError};
#[cfg(feature = "pcsc")]
pub use transport::PcscReader;
pub use transport::{CardTransport, TransportError};
