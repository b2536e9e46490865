//! INITIALIZE UPDATE (GPC Amendment D §7.1.1) and the card authentication it carries
//! (§6.2.2.2), plus SELECT by AID for the caller's convenience.

use alloc::vec::Vec;

use super::crypto::ct_eq;
use super::error::Scp03Error;
use super::keys::{DERIVE_CARD_CRYPTOGRAM, SessionKeys, StaticKeys};
use super::params::{Aid, Challenge, ChallengeMode, SMode, ScpOptions, SequenceCounter};
use crate::apdu::{Command, Response, StatusWord};

/// INS of INITIALIZE UPDATE.
pub const INS_INITIALIZE_UPDATE: u8 = 0x50;
/// INS of EXTERNAL AUTHENTICATE.
pub const INS_EXTERNAL_AUTHENTICATE: u8 = 0x82;
/// The SCP identifier in the key information (§7.1.1.6).
pub const SCP03: u8 = 0x03;

/// `00 A4 04 00 Lc AID 00`: SELECT by DF name, first or only occurrence, FCI returned
/// (ISO/IEC 7816-4 §11.2.2; GPCS §11.9). Selecting the security domain is the caller's
/// business and precedes INITIALIZE UPDATE.
pub fn select_by_aid(aid: &Aid) -> Command {
    Command::new(0x00, 0xA4, 0x04, 0x00)
        .with_data(aid.as_bytes())
        .with_le(256)
}

/// `80 50 KVN 00 Lc host-challenge 00` (§7.1.1.2). KVN `00` lets the card choose.
pub fn initialize_update(kvn: u8, host_challenge: &Challenge) -> Command {
    Command::new(0x80, INS_INITIALIZE_UPDATE, kvn, 0x00)
        .with_data(host_challenge.as_bytes())
        .with_le(256)
}

/// The data of an INITIALIZE UPDATE response (§7.1.1.6, Table 7-3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitializeUpdateResponse {
    /// Key diversification data: what a back end derives the card's static keys from.
    pub key_diversification_data: [u8; 10],
    /// The key version number used.
    pub kvn: u8,
    /// The "i" parameter (§5.1).
    pub options: ScpOptions,
    /// The card challenge.
    pub card_challenge: Challenge,
    /// The card cryptogram.
    pub card_cryptogram: Challenge,
    /// The sequence counter; present exactly in pseudo-random mode.
    pub sequence_counter: Option<SequenceCounter>,
}

impl InitializeUpdateResponse {
    /// Parses the response data (without the status word). The length must be one of those of
    /// Table 7-3 and agree with the "i" parameter's S mode and challenge mode.
    pub fn parse(data: &[u8]) -> Result<Self, Scp03Error> {
        let malformed = Scp03Error::MalformedInitializeUpdateResponse { len: data.len() };
        let [kdd @ .., kvn, scp, i] = data.get(..13).ok_or(malformed)? else {
            return Err(malformed);
        };
        if *scp != SCP03 {
            return Err(Scp03Error::WrongProtocol { scp: *scp });
        }
        let options = ScpOptions::from_i(*i)?;
        let s = options.s_mode.byte_len();
        let counter_len = match options.challenge {
            ChallengeMode::PseudoRandom => 3,
            ChallengeMode::Random => 0,
        };
        if data.len() != 13 + 2 * s + counter_len {
            return Err(malformed);
        }
        let card_challenge = Challenge::from_slice(&data[13..13 + s])?;
        let card_cryptogram = Challenge::from_slice(&data[13 + s..13 + 2 * s])?;
        let sequence_counter = match &data[13 + 2 * s..] {
            [a, b, c] => Some(SequenceCounter::from_bytes([*a, *b, *c])),
            _ => None,
        };
        let mut key_diversification_data = [0; 10];
        key_diversification_data.copy_from_slice(kdd);
        Ok(Self {
            key_diversification_data,
            kvn: *kvn,
            options,
            card_challenge,
            card_cryptogram,
            sequence_counter,
        })
    }

    /// Parses a whole response: status `9000`, then the data.
    pub fn from_response(response: &Response) -> Result<Self, Scp03Error> {
        if response.sw != StatusWord::Ok {
            return Err(Scp03Error::UnexpectedStatus { sw: response.sw });
        }
        Self::parse(&response.data)
    }

    /// Encodes the response data.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        out.extend_from_slice(&self.key_diversification_data);
        out.extend_from_slice(&[self.kvn, SCP03, self.options.to_i()]);
        out.extend_from_slice(self.card_challenge.as_bytes());
        out.extend_from_slice(self.card_cryptogram.as_bytes());
        if let Some(counter) = self.sequence_counter {
            out.extend_from_slice(&counter.to_bytes());
        }
        out
    }
}

/// Proof that the card cryptogram was verified (§6.2.2.2): only this crate can make one,
/// and a [`super::SecureChannel`] or a script's verified results cannot exist without it.
#[derive(Debug)]
pub struct CardCryptogramVerified {
    _private: (),
}

/// Derives the session keys for `card_challenge` and checks `card_cryptogram` against
/// them in constant time (§6.2.1, §6.2.2.2).
pub(crate) fn authenticate_card(
    keys: &StaticKeys,
    host_challenge: &Challenge,
    card_challenge: &Challenge,
    card_cryptogram: &Challenge,
) -> Result<(SessionKeys, CardCryptogramVerified), Scp03Error> {
    let session = SessionKeys::derive(keys, host_challenge, card_challenge)?;
    let expected = session.cryptogram(DERIVE_CARD_CRYPTOGRAM, host_challenge, card_challenge);
    if !ct_eq(expected.as_bytes(), card_cryptogram.as_bytes()) {
        return Err(Scp03Error::CardCryptogramMismatch);
    }
    Ok((session, CardCryptogramVerified { _private: () }))
}

/// What the host expects of the key information of an INITIALIZE UPDATE response.
pub(crate) struct Expectation<'a> {
    pub(crate) kvn: u8,
    pub(crate) s_mode: SMode,
    pub(crate) options: Option<ScpOptions>,
    pub(crate) key_diversification_data: Option<&'a [u8; 10]>,
    pub(crate) aid: Option<&'a Aid>,
}

impl Expectation<'_> {
    /// Checks the response's KVN (§7.1.1.3), "i" (§5.1), key diversification data and, in
    /// pseudo-random mode with a known AID, that the card challenge follows from the counter
    /// (§6.2.2.1).
    pub(crate) fn check(
        &self,
        keys: &StaticKeys,
        response: &InitializeUpdateResponse,
    ) -> Result<(), Scp03Error> {
        if self.kvn != 0 && response.kvn != self.kvn {
            return Err(Scp03Error::KeyVersionMismatch {
                expected: self.kvn,
                actual: response.kvn,
            });
        }
        if let Some(options) = self.options {
            if options != response.options {
                return Err(Scp03Error::IParameterMismatch {
                    expected: options.to_i(),
                    actual: response.options.to_i(),
                });
            }
        }
        if response.options.s_mode != self.s_mode {
            return Err(Scp03Error::MalformedInitializeUpdateResponse {
                len: response.to_bytes().len(),
            });
        }
        if let Some(kdd) = self.key_diversification_data {
            if kdd != &response.key_diversification_data {
                return Err(Scp03Error::KeyDiversificationDataMismatch);
            }
        }
        if let (Some(aid), Some(counter)) = (self.aid, response.sequence_counter) {
            let expected = keys.pseudo_random_challenge(self.s_mode, counter, aid)?;
            if !ct_eq(expected.as_bytes(), response.card_challenge.as_bytes()) {
                return Err(Scp03Error::CardChallengeMismatch);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        ::hex::decode(s.replace(' ', "")).unwrap()
    }

    // osmocom/pysim tests/unittests/test_globalplatform.py, SCP03_Test_AES128_11.init_upd_rsp.
    #[test]
    fn parse_pysim_response() {
        let data = hex("000000000000000000003003703eb51047495b249f66c484c1d2ef1948000002");
        let parsed = InitializeUpdateResponse::parse(&data).unwrap();
        assert_eq!(parsed.kvn, 0x30);
        assert_eq!(parsed.options, ScpOptions::S8_PSEUDO_RANDOM_FULL);
        assert_eq!(
            parsed.card_challenge.as_bytes(),
            &hex("3eb51047495b249f")[..]
        );
        assert_eq!(
            parsed.card_cryptogram.as_bytes(),
            &hex("66c484c1d2ef1948")[..]
        );
        assert_eq!(parsed.sequence_counter.map(|c| c.value()), Some(2));
        assert_eq!(parsed.to_bytes(), data);
        // Every truncation or extension is refused.
        for len in 0..data.len() {
            assert!(
                InitializeUpdateResponse::parse(&data[..len]).is_err(),
                "{len}"
            );
        }
        let mut longer = data.clone();
        longer.push(0);
        assert!(InitializeUpdateResponse::parse(&longer).is_err());
        let mut scp02 = data.clone();
        scp02[11] = 0x02;
        assert_eq!(
            InitializeUpdateResponse::parse(&scp02),
            Err(Scp03Error::WrongProtocol { scp: 0x02 })
        );
    }

    #[test]
    fn select_command() {
        let aid = Aid::new(&hex("A0000005591010FFFFFFFF8900000100")).unwrap();
        assert_eq!(
            select_by_aid(&aid).to_bytes().unwrap(),
            hex("00A4040010A0000005591010FFFFFFFF890000010000")
        );
    }
}
