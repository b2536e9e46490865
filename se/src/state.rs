//! The card's state: its profile (like a real card's personalization) and the ID-store
//! applet's contents. Serialized to one JSON file by [`crate::store`].

use std::collections::BTreeMap;
use std::fmt;

use kazashi_protocol::hex;
use kazashi_protocol::online::ChipTarget;
use kazashi_protocol::scp03::{
    self, Aid, ResponseProtection, SMode, ScpOptions, ScriptTarget, SequenceCounter, StaticKeys,
};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The default issuer security domain AID (GlobalPlatform's ISD, `A000000151000000`).
pub const DEFAULT_ISD_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00];

/// The state file format version.
pub const STATE_VERSION: u32 = 1;

/// Secret bytes: zeroized on drop, redacted in `Debug`, hex in the state file only.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes, redacted)", self.0.len())
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(hex::encode_upper(&self.0));
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        hex::decode(&text)
            .map(Secret)
            .ok_or_else(|| serde::de::Error::custom("invalid hex"))
    }
}

/// Bytes written as hex in the state file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HexBytes(pub Vec<u8>);

impl Serialize for HexBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode_upper(&self.0))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(&text)
            .map(HexBytes)
            .ok_or_else(|| serde::de::Error::custom("invalid hex"))
    }
}

/// The three static keys of the issuer security domain (SCP03: AES-128, -192 or -256).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySet {
    /// Key-ENC.
    pub enc: Secret,
    /// Key-MAC.
    pub mac: Secret,
    /// Key-DEK.
    pub dek: Secret,
}

impl KeySet {
    /// Random keys of `len` bytes (16, 24 or 32).
    pub fn random(len: usize, rng: &mut impl CryptoRngCore) -> Self {
        let mut key = || {
            let mut bytes = vec![0; len];
            rng.fill_bytes(&mut bytes);
            Secret(bytes)
        };
        Self {
            enc: key(),
            mac: key(),
            dek: key(),
        }
    }

    /// The key length in bytes.
    pub fn len(&self) -> usize {
        self.enc.0.len()
    }

    /// Whether the keys are empty (never, for a valid profile).
    pub fn is_empty(&self) -> bool {
        self.enc.0.is_empty()
    }
}

/// How the card makes its SCP03 card challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChallengeMode {
    /// Derived from the sequence counter (i bit 0x10): the host can predict it.
    PseudoRandom,
    /// Random at every INITIALIZE UPDATE.
    Random,
}

/// The card's personalization, as a card profile would give it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The issuer security domain's AID.
    pub isd_aid: HexBytes,
    /// The key version number of the SCP03 keys.
    pub kvn: u8,
    /// The SCP03 static keys.
    pub keys: KeySet,
    /// Key diversification data (10 bytes), returned in INITIALIZE UPDATE.
    pub kdd: HexBytes,
    /// S16 mode: 16-byte challenges, cryptograms and MACs.
    pub s16: bool,
    /// Pseudo-random or random card challenge.
    pub challenge: ChallengeMode,
    /// The sequence counter the next INITIALIZE UPDATE reports (24 bits).
    pub sequence_counter: u32,
    /// The card image number (GET DATA `0045`): the chip's identity.
    pub cin: HexBytes,
    /// The IC serial number reported in the CPLC (GET DATA `9F7F`).
    pub ic_serial: HexBytes,
}

impl Profile {
    /// A profile with random keys, identity and diversification data.
    pub fn random(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = |n: usize| {
            let mut b = vec![0; n];
            rng.fill_bytes(&mut b);
            HexBytes(b)
        };
        let kdd = bytes(10);
        let cin = bytes(8);
        let ic_serial = bytes(4);
        Self {
            isd_aid: HexBytes(DEFAULT_ISD_AID.to_vec()),
            kvn: 0x30,
            keys: KeySet::random(16, rng),
            kdd,
            s16: false,
            challenge: ChallengeMode::PseudoRandom,
            sequence_counter: 1,
            cin,
            ic_serial,
        }
    }

    /// Checks the profile's values (key lengths, sizes, counter range).
    pub fn validate(&self) -> Result<(), &'static str> {
        if !matches!(self.keys.len(), 16 | 24 | 32)
            || self.keys.mac.0.len() != self.keys.len()
            || self.keys.dek.0.len() != self.keys.len()
        {
            return Err("SCP03 keys must all be 16, 24 or 32 bytes");
        }
        if !(5..=16).contains(&self.isd_aid.0.len()) {
            return Err("the ISD AID must be 5 to 16 bytes");
        }
        if self.kdd.0.len() != 10 {
            return Err("key diversification data must be 10 bytes");
        }
        if self.sequence_counter > 0x00FF_FFFF {
            return Err("the sequence counter has 24 bits");
        }
        if self.cin.0.is_empty() || self.cin.0.len() > 16 {
            return Err("the card image number must be 1 to 16 bytes");
        }
        if self.ic_serial.0.len() != 4 {
            return Err("the IC serial number must be 4 bytes");
        }
        Ok(())
    }

    /// The SCP03 "i" parameter of this profile: S8 or S16, the challenge mode, and R-MAC with
    /// R-ENC always supported.
    pub fn scp_options(&self) -> ScpOptions {
        ScpOptions {
            s_mode: if self.s16 { SMode::S16 } else { SMode::S8 },
            challenge: match self.challenge {
                ChallengeMode::PseudoRandom => scp03::ChallengeMode::PseudoRandom,
                ChallengeMode::Random => scp03::ChallengeMode::Random,
            },
            response: ResponseProtection::RMacREnc,
        }
    }

    /// The static keys as the SCP03 layer takes them.
    pub fn static_keys(&self) -> Result<StaticKeys, scp03::Scp03Error> {
        StaticKeys::from_slices(
            self.keys.enc.expose(),
            self.keys.mac.expose(),
            self.keys.dek.expose(),
        )
    }

    /// What a host that personalized this chip knows of it: the script target (ISD AID, KVN,
    /// options, KDD) and the last sequence counter used. For in-process tests and demos; a
    /// server keeps these in its chip registry.
    pub fn host_view(&self) -> Result<(StaticKeys, ChipTarget), scp03::Scp03Error> {
        let target = ScriptTarget {
            aid: Aid::new(&self.isd_aid.0)?,
            kvn: self.kvn,
            options: self.scp_options(),
            key_diversification_data: self.kdd.0.as_slice().try_into().ok(),
        };
        let counter = SequenceCounter::new(self.sequence_counter.saturating_sub(1))
            .ok_or(scp03::Scp03Error::SequenceCounterExhausted)?;
        Ok((self.static_keys()?, ChipTarget { target, counter }))
    }

    /// The chip's id as the server knows it: the CIN in hex.
    pub fn chip_id(&self) -> String {
        hex::encode_upper(&self.cin.0)
    }
}

/// One object of the ID-store applet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Object {
    /// A record.
    Record {
        /// The value.
        value: HexBytes,
    },
    /// A counter (never below zero).
    Counter {
        /// The value.
        value: u64,
    },
    /// A P-256 key pair generated on the chip.
    Key {
        /// The private scalar (32 bytes); never leaves the card.
        private: Secret,
    },
}

impl Object {
    /// The object's size counted against the card's storage.
    pub fn size(&self) -> usize {
        match self {
            Self::Record { value } => value.0.len(),
            Self::Counter { .. } => 8,
            Self::Key { .. } => 32,
        }
    }
}

/// The ID-store applet's contents: namespace → name → object.
pub type Objects = BTreeMap<HexBytes, BTreeMap<HexBytes, Object>>;

/// Everything the card keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardState {
    /// Format version ([`STATE_VERSION`]).
    pub version: u32,
    /// The personalization.
    pub profile: Profile,
    /// The applet's objects.
    pub objects: Objects,
}

impl CardState {
    /// A fresh card with the given profile and no objects.
    pub fn new(profile: Profile) -> Self {
        Self {
            version: STATE_VERSION,
            profile,
            objects: Objects::new(),
        }
    }

    /// Bytes used by the applet's objects (names included).
    pub fn used(&self) -> usize {
        used(&self.objects)
    }

    /// Reads and validates a state (the state file's JSON): the format version, then the
    /// profile's values.
    pub fn from_json(json: &[u8]) -> Result<Self, StateError> {
        let state: CardState =
            serde_json::from_slice(json).map_err(|e| StateError::Invalid(e.to_string()))?;
        if state.version != STATE_VERSION {
            return Err(StateError::Version(state.version));
        }
        state
            .profile
            .validate()
            .map_err(|reason| StateError::Invalid(reason.into()))?;
        Ok(state)
    }

    /// The state as JSON (pretty-printed, as in a state file). It holds the card's keys.
    pub fn to_json(&self) -> Result<Zeroizing<Vec<u8>>, StateError> {
        serde_json::to_vec_pretty(self)
            .map(Zeroizing::new)
            .map_err(|e| StateError::Invalid(e.to_string()))
    }
}

/// Why a state is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Not a state: malformed JSON, missing or unknown values, or a profile out of range.
    #[error("not a valid kazashi-se state: {0}")]
    Invalid(String),
    /// A state of another format version.
    #[error("unsupported state version {0}")]
    Version(u32),
}

/// Bytes used by `objects`: namespaces, names and values.
pub fn used(objects: &Objects) -> usize {
    objects
        .iter()
        .map(|(ns, names)| {
            ns.0.len()
                + names
                    .iter()
                    .map(|(name, object)| name.0.len() + object.size())
                    .sum::<usize>()
        })
        .sum()
}
