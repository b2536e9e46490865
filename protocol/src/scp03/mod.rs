//! GlobalPlatform Secure Channel Protocol '03' (GPC Card Specification v2.3, Amendment D
//! v1.2, GPC_SPE_014): AES-128/192/256 keys, S8 and S16 modes, random and pseudo-random card
//! challenges, security levels `01`, `03`, `11`, `13`, `33`; host and card sides, sans-IO.
//!
//! Section numbers in this module's comments are those of Amendment D v1.2 unless marked
//! GPCS (the Card Specification v2.3.1).
//!
//! # Host: interactive
//!
//! [`InitializeUpdateSent`] → [`CardAuthenticated`] → [`ExternalAuthenticateSent`] →
//! [`SecureChannel`], each step consuming the previous state and one response. The
//! [`CardCryptogramVerified`] proof, made only when the card cryptogram verifies, is needed
//! to build a [`SecureChannel`].
//!
//! # Host: one round trip (the server)
//!
//! [`Script::predict`] builds INITIALIZE UPDATE, EXTERNAL AUTHENTICATE and every wrapped
//! command at once from the card's expected sequence counter; [`ScriptVerifier::verify`]
//! checks all the answers. If the counter was out of step, it reports the card's real,
//! authenticated counter ([`Scp03Error::CounterOutOfStep`]) and the server builds a second
//! script. [`Script::after_initialize_update`] builds the rest of a script from an actual
//! INITIALIZE UPDATE answer (random-challenge cards).
//!
//! # Card
//!
//! [`CardSession`] answers INITIALIZE UPDATE and EXTERNAL AUTHENTICATE, unwraps commands and
//! wraps responses; its errors map to status words with `StatusWord::from(&error)`.
//!
//! ```
//! use kazashi_protocol::apdu::{Command, Response, StatusWord};
//! use kazashi_protocol::scp03::*;
//!
//! # fn main() -> Result<(), Scp03Error> {
//! let keys = || StaticKeys::from_slices(&[0x40; 16], &[0x41; 16], &[0x42; 16]);
//! let config = CardConfig {
//!     aid: Aid::new(&[0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00])?,
//!     kvn: 0x30,
//!     key_diversification_data: [0; 10],
//!     options: ScpOptions::S8_PSEUDO_RANDOM_FULL,
//!     minimum_level: SecurityLevel::CMac,
//! };
//! // The server: knows the keys and that the card's counter was last 41.
//! let target = ScriptTarget {
//!     aid: config.aid.clone(),
//!     kvn: 0x30,
//!     options: config.options,
//!     key_diversification_data: Some([0; 10]),
//! };
//! let server_keys = keys()?;
//! let mut rng = rand_core::OsRng;
//! let last_seen = SequenceCounter::new(41).ok_or(Scp03Error::InvalidSequenceCounter)?;
//! let next = last_seen.next().ok_or(Scp03Error::SequenceCounterExhausted)?;
//! let get_data = Command::new(0x80, 0xCA, 0x00, 0x66).with_le(256);
//! let script = Script::predict(
//!     &server_keys,
//!     &target,
//!     next,
//!     Challenge::random(SMode::S8, &mut rng),
//!     SecurityLevel::Full,
//!     &[get_data],
//! )?;
//!
//! // The card (the virtual SE), run by the relay.
//! let card_keys = keys()?;
//! let mut card = CardSession::new();
//! let mut responses = Vec::new();
//! let (iu, ea, wrapped) = (&script.commands()[0], &script.commands()[1], &script.commands()[2..]);
//! let answer = card.initialize_update(&config, &card_keys, last_seen, &mut rng, iu)?;
//! assert_eq!(answer.new_counter, Some(next)); // persist before answering
//! responses.push(answer.response);
//! responses.push(card.external_authenticate(&ea.to_bytes()?)?);
//! for command in wrapped {
//!     let plain = card.unwrap_command(&command.to_bytes()?)?;
//!     assert_eq!(plain.ins, 0xCA);
//!     responses.push(card.wrap_response(Response::new(vec![0x66, 0x00], StatusWord::Ok)));
//! }
//!
//! // The server again.
//! let outcome = script.verifier().verify(&server_keys, &responses)?;
//! let first = outcome.results[0].as_ref().map_err(|e| *e)?;
//! assert!(first.is_authenticated());
//! assert_eq!(first.response().data, vec![0x66, 0x00]);
//! # Ok(())
//! # }
//! ```

mod card;
mod channel;
mod crypto;
mod diversify;
mod error;
mod host;
mod initialize_update;
mod keys;
mod params;
mod script;

pub use card::{CardConfig, CardSession, InitializeUpdateAnswer};
pub use channel::CommandResult;
pub use diversify::{LABEL_DEK, LABEL_ENC, LABEL_MAC, diversify_static_keys};
pub use error::Scp03Error;
pub use host::{
    CardAuthenticated, ExternalAuthenticateSent, InitializeUpdateSent, PendingResponse,
    SecureChannel,
};
pub use initialize_update::{
    CardCryptogramVerified, INS_EXTERNAL_AUTHENTICATE, INS_INITIALIZE_UPDATE,
    InitializeUpdateResponse, SCP03, initialize_update, select_by_aid,
};
pub use keys::{Key, KeyLength, StaticKeys};
pub use params::{
    Aid, Challenge, ChallengeMode, ResponseProtection, SMode, ScpOptions, SecurityLevel,
    SequenceCounter,
};
pub use script::{Script, ScriptOutcome, ScriptTarget, ScriptVerifier};
