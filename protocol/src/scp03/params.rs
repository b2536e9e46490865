//! SCP03 parameters: S8/S16 mode, the "i" parameter, security levels, sequence counter,
//! challenges (GPC Amendment D §5.1, §6.2.2, §7.1.2.3).

use core::fmt;

use super::error::Scp03Error;

/// Length of challenges, cryptograms and MACs (Amendment D §5.1, Table 5-1 bit b1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SMode {
    /// 8-byte challenges, cryptograms, C-MACs and R-MACs (legacy mode).
    S8,
    /// 16-byte challenges, cryptograms, C-MACs and R-MACs (Amendment D v1.2).
    S16,
}

impl SMode {
    /// 8 or 16.
    pub const fn byte_len(self) -> usize {
        match self {
            Self::S8 => 8,
            Self::S16 => 16,
        }
    }

    /// The mode whose values are `len` bytes long.
    pub const fn from_len(len: usize) -> Result<Self, Scp03Error> {
        match len {
            8 => Ok(Self::S8),
            16 => Ok(Self::S16),
            len => Err(Scp03Error::InvalidChallengeLength { len }),
        }
    }
}

/// How the card makes its challenge (§6.2.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChallengeMode {
    /// From a random number generator: the host cannot predict it; two round trips.
    Random,
    /// Derived from Key-ENC, the sequence counter and the AID: the host can predict it and
    /// send a whole script at once.
    PseudoRandom,
}

/// Which response protections the card supports (§5.1, Table 5-1 bits b6 b7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseProtection {
    /// No R-MAC, no R-ENC.
    None,
    /// R-MAC only.
    RMac,
    /// R-MAC and R-ENC.
    RMacREnc,
}

/// The SCP03 "i" parameter (§5.1, Table 5-1): S mode, challenge mode, response protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ScpOptions {
    /// S8 or S16.
    pub s_mode: SMode,
    /// Random or pseudo-random card challenge.
    pub challenge: ChallengeMode,
    /// R-MAC / R-ENC support.
    pub response: ResponseProtection,
}

impl ScpOptions {
    /// `i = 70`: S8, pseudo-random challenge, R-MAC and R-ENC (the pySim traces' eUICC).
    pub const S8_PSEUDO_RANDOM_FULL: Self = Self {
        s_mode: SMode::S8,
        challenge: ChallengeMode::PseudoRandom,
        response: ResponseProtection::RMacREnc,
    };

    /// The "i" byte.
    pub const fn to_i(self) -> u8 {
        let mut i = 0;
        if let SMode::S16 = self.s_mode {
            i |= 0x01;
        }
        if let ChallengeMode::PseudoRandom = self.challenge {
            i |= 0x10;
        }
        i | match self.response {
            ResponseProtection::None => 0x00,
            ResponseProtection::RMac => 0x20,
            ResponseProtection::RMacREnc => 0x60,
        }
    }

    /// Parses the "i" byte; RFU bits (b2-b4, b8) and R-ENC without R-MAC are refused.
    pub const fn from_i(i: u8) -> Result<Self, Scp03Error> {
        if i & 0x8E != 0 {
            return Err(Scp03Error::InvalidIParameter { i });
        }
        let response = match i & 0x60 {
            0x00 => ResponseProtection::None,
            0x20 => ResponseProtection::RMac,
            0x60 => ResponseProtection::RMacREnc,
            _ => return Err(Scp03Error::InvalidIParameter { i }),
        };
        Ok(Self {
            s_mode: if i & 0x01 != 0 { SMode::S16 } else { SMode::S8 },
            challenge: if i & 0x10 != 0 {
                ChallengeMode::PseudoRandom
            } else {
                ChallengeMode::Random
            },
            response,
        })
    }

    /// Whether a session at `level` can run with these options (§5.1: R-MAC and R-ENC only
    /// where "i" announces them).
    pub const fn supports(self, level: SecurityLevel) -> bool {
        match self.response {
            ResponseProtection::None => !level.r_mac(),
            ResponseProtection::RMac => !level.r_enc(),
            ResponseProtection::RMacREnc => true,
        }
    }
}

/// The security level of a session: P1 of EXTERNAL AUTHENTICATE (§7.1.2.3, Table 7-6).
///
/// Every level includes C-MAC; R-ENC needs C-DECRYPTION and R-MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SecurityLevel {
    /// `01`: C-MAC.
    CMac = 0x01,
    /// `03`: C-DECRYPTION and C-MAC.
    CMacCDec = 0x03,
    /// `11`: C-MAC and R-MAC.
    CMacRMac = 0x11,
    /// `13`: C-DECRYPTION, C-MAC and R-MAC.
    CMacCDecRMac = 0x13,
    /// `33`: C-DECRYPTION, R-ENCRYPTION, C-MAC and R-MAC.
    Full = 0x33,
}

impl SecurityLevel {
    /// All levels, weakest first.
    pub const ALL: [Self; 5] = [
        Self::CMac,
        Self::CMacCDec,
        Self::CMacRMac,
        Self::CMacCDecRMac,
        Self::Full,
    ];

    /// The P1 byte.
    pub const fn to_u8(self) -> u8 {
        self as u8
    }

    /// Parses P1; `00` and undefined combinations are refused.
    pub const fn from_u8(level: u8) -> Result<Self, Scp03Error> {
        Ok(match level {
            0x01 => Self::CMac,
            0x03 => Self::CMacCDec,
            0x11 => Self::CMacRMac,
            0x13 => Self::CMacCDecRMac,
            0x33 => Self::Full,
            level => return Err(Scp03Error::InvalidSecurityLevel { level }),
        })
    }

    /// Commands carry a C-MAC (always).
    pub const fn c_mac(self) -> bool {
        true
    }

    /// Command data is encrypted.
    pub const fn c_dec(self) -> bool {
        self.to_u8() & 0x02 != 0
    }

    /// Responses carry an R-MAC.
    pub const fn r_mac(self) -> bool {
        self.to_u8() & 0x10 != 0
    }

    /// Response data is encrypted.
    pub const fn r_enc(self) -> bool {
        self.to_u8() & 0x20 != 0
    }

    /// Whether this level includes every protection of `other`.
    pub const fn covers(self, other: Self) -> bool {
        self.to_u8() & other.to_u8() == other.to_u8()
    }
}

impl TryFrom<u8> for SecurityLevel {
    type Error = Scp03Error;
    fn try_from(level: u8) -> Result<Self, Scp03Error> {
        Self::from_u8(level)
    }
}

/// The three-byte sequence counter of a key set (§6.2.2.1).
///
/// The card increments it at every INITIALIZE UPDATE in pseudo-random mode and uses (and
/// returns) the new value; a fresh key set starts at zero, so the first INITIALIZE UPDATE
/// answers with counter 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SequenceCounter(u32);

impl SequenceCounter {
    /// Zero: a fresh key set.
    pub const ZERO: Self = Self(0);
    /// `FFFFFF`: the card refuses INITIALIZE UPDATE from here on.
    pub const MAX: Self = Self(0x00FF_FFFF);

    /// A counter value; `None` above `FFFFFF`.
    pub const fn new(value: u32) -> Option<Self> {
        if value <= Self::MAX.0 {
            Some(Self(value))
        } else {
            None
        }
    }

    /// From the three bytes of an INITIALIZE UPDATE response.
    pub const fn from_bytes(bytes: [u8; 3]) -> Self {
        Self(u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]))
    }

    /// The three bytes, big-endian.
    pub const fn to_bytes(self) -> [u8; 3] {
        let [_, a, b, c] = self.0.to_be_bytes();
        [a, b, c]
    }

    /// The value.
    pub const fn value(self) -> u32 {
        self.0
    }

    /// The next value; `None` at `FFFFFF`.
    pub const fn next(self) -> Option<Self> {
        Self::new(self.0 + 1)
    }
}

/// An 8-byte (S8) or 16-byte (S16) value: a host or card challenge, or a cryptogram.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Challenge {
    bytes: [u8; 16],
    mode: SMode,
}

impl Challenge {
    /// From 8 or 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Scp03Error> {
        let mode = SMode::from_len(bytes.len())?;
        let mut out = [0; 16];
        out[..bytes.len()].copy_from_slice(bytes);
        Ok(Self { bytes: out, mode })
    }

    /// From a 16-byte buffer of which the first `mode.byte_len()` bytes are used.
    pub(crate) const fn from_array(mut bytes: [u8; 16], mode: SMode) -> Self {
        if let SMode::S8 = mode {
            let mut i = 8;
            while i < 16 {
                bytes[i] = 0;
                i += 1;
            }
        }
        Self { bytes, mode }
    }

    /// A fresh random host challenge of the mode's length.
    pub fn random(mode: SMode, rng: &mut impl rand_core::CryptoRngCore) -> Self {
        let mut bytes = [0; 16];
        rng.fill_bytes(&mut bytes[..mode.byte_len()]);
        Self { bytes, mode }
    }

    /// The bytes (8 or 16).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.mode.byte_len()]
    }

    /// S8 or S16, from the length.
    pub const fn mode(&self) -> SMode {
        self.mode
    }
}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Challenge(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02X}")?;
        }
        f.write_str(")")
    }
}

/// A security domain AID (5 to 16 bytes, ISO/IEC 7816-4 §8.2.1.2), the context of the
/// pseudo-random card challenge (§6.2.2.1).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Aid {
    bytes: [u8; 16],
    len: u8,
}

impl Aid {
    /// From 5 to 16 bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, Scp03Error> {
        let len = bytes.len();
        if !(5..=16).contains(&len) {
            return Err(Scp03Error::InvalidAidLength { len });
        }
        let mut out = [0; 16];
        out[..len].copy_from_slice(bytes);
        Ok(Self {
            bytes: out,
            len: len as u8,
        })
    }

    /// The AID bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for Aid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Aid(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02X}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i_parameter_round_trips_and_rejects_rfu() {
        for i in 0..=0xFFu8 {
            match ScpOptions::from_i(i) {
                Ok(options) => assert_eq!(options.to_i(), i),
                Err(e) => assert_eq!(e, Scp03Error::InvalidIParameter { i }),
            }
        }
        assert_eq!(ScpOptions::S8_PSEUDO_RANDOM_FULL.to_i(), 0x70);
        assert!(ScpOptions::from_i(0x40).is_err());
        assert!(ScpOptions::from_i(0x71).is_ok());
    }

    #[test]
    fn levels() {
        for level in SecurityLevel::ALL {
            assert_eq!(SecurityLevel::from_u8(level.to_u8()), Ok(level));
            assert!(level.c_mac());
            assert!(!level.r_enc() || (level.c_dec() && level.r_mac()));
        }
        assert!(SecurityLevel::from_u8(0x00).is_err());
        assert!(SecurityLevel::from_u8(0x02).is_err());
        assert!(SecurityLevel::from_u8(0x31).is_err());
        assert!(SecurityLevel::Full.covers(SecurityLevel::CMacCDec));
        assert!(!SecurityLevel::CMacRMac.covers(SecurityLevel::CMacCDec));
        let none = ScpOptions {
            response: ResponseProtection::None,
            ..ScpOptions::S8_PSEUDO_RANDOM_FULL
        };
        assert!(none.supports(SecurityLevel::CMacCDec));
        assert!(!none.supports(SecurityLevel::CMacRMac));
    }

    #[test]
    fn counter_bounds() {
        assert_eq!(SequenceCounter::MAX.next(), None);
        assert_eq!(SequenceCounter::new(0x0100_0000), None);
        let c = SequenceCounter::from_bytes([0x01, 0x02, 0x03]);
        assert_eq!(c.value(), 0x010203);
        assert_eq!(c.to_bytes(), [1, 2, 3]);
        assert_eq!(SequenceCounter::ZERO.next().map(|c| c.value()), Some(1));
    }

    #[test]
    fn aid_and_challenge_lengths() {
        assert!(Aid::new(&[0; 4]).is_err());
        assert!(Aid::new(&[0; 17]).is_err());
        assert_eq!(Aid::new(&[1; 16]).unwrap().as_bytes(), &[1; 16]);
        assert!(Challenge::from_slice(&[0; 9]).is_err());
        assert_eq!(Challenge::from_slice(&[0; 16]).unwrap().mode(), SMode::S16);
    }
}
