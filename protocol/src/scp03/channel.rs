//! Secure messaging of an open session, both directions and both sides: C-MAC and
//! C-DECRYPTION (GPC Amendment D §6.2.4, §6.2.6), R-MAC and R-ENCRYPTION (§6.2.5, §6.2.7).

use alloc::vec::Vec;
use core::fmt;

use super::crypto::{ct_eq, pad, unpad};
use super::error::Scp03Error;
use super::keys::SessionKeys;
use super::params::{SMode, SecurityLevel};
use crate::apdu::{Command, EXTENDED_NC_MAX, LengthForm, Response, SHORT_NC_MAX, StatusWord};

/// The outcome of unwrapping one response on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandResult {
    /// The R-MAC verified (and R-ENC, if on, decrypted): this is what the card answered.
    Authenticated(Response),
    /// No R-MAC to check: the session's level has no R-MAC, or the status word is an error,
    /// which GP sends bare (§6.2.5). A relay could have forged or replaced it; treat an error
    /// here as "outcome unknown", not as proof the command had no effect.
    Unauthenticated(Response),
}

impl CommandResult {
    /// The (plaintext) response.
    pub fn response(&self) -> &Response {
        match self {
            Self::Authenticated(r) | Self::Unauthenticated(r) => r,
        }
    }

    /// The (plaintext) response, by value.
    pub fn into_response(self) -> Response {
        match self {
            Self::Authenticated(r) | Self::Unauthenticated(r) => r,
        }
    }

    /// Whether an R-MAC vouches for the response.
    pub fn is_authenticated(&self) -> bool {
        matches!(self, Self::Authenticated(_))
    }
}

/// What the host needs to check the response to one wrapped command: the MAC chaining
/// value after it and its encryption counter.
#[derive(Clone)]
pub(crate) struct ResponseContext {
    pub(crate) chaining: [u8; 16],
    pub(crate) counter: u64,
}

/// The class byte to send and the one to MAC, for a plain command's class byte
/// (§6.2.4; GPCS §11.1.4 Tables 11-11 and 11-12).
///
/// The MAC is computed over the class byte with the logical channel number set to zero and
/// the GP secure messaging indication `04`; the class byte sent keeps the channel number.
pub(crate) fn secure_cla(cla: u8) -> Result<(u8, u8), Scp03Error> {
    if cla == 0xFF {
        return Err(Scp03Error::UnsupportedClass { cla });
    }
    if cla & 0x40 == 0 {
        // First interindustry (and proprietary) coding: b4 b3 secure messaging, b2 b1 channel.
        if cla & 0x0C != 0 {
            return Err(Scp03Error::UnsupportedClass { cla });
        }
        Ok((cla | 0x04, (cla & 0xF0) | 0x04))
    } else {
        // Further interindustry coding: b6 secure messaging, b4-b1 channel 4-19; `FF` is
        // not a class byte (ISO/IEC 7816-4 §5.4.1).
        if cla & 0x20 != 0 || cla | 0x20 == 0xFF {
            return Err(Scp03Error::UnsupportedClass { cla });
        }
        Ok((cla | 0x20, (cla & 0x90) | 0x04))
    }
}

/// For a received class byte: `Some((plain class byte, class byte to MAC))` when it
/// indicates GP secure messaging, `None` when it indicates none (§6.2.4).
pub(crate) fn received_cla(cla: u8) -> Result<Option<(u8, u8)>, Scp03Error> {
    if cla == 0xFF {
        return Err(Scp03Error::ClassNotSupported);
    }
    if cla & 0x40 == 0 {
        match cla & 0x0C {
            0x00 => Ok(None),
            0x04 => Ok(Some((cla & !0x04, (cla & 0xF0) | 0x04))),
            // ISO/IEC 7816-4 secure messaging: not SCP03.
            _ => Err(Scp03Error::SecureMessagingMissing),
        }
    } else if cla & 0x20 != 0 {
        Ok(Some((cla & !0x20, (cla & 0x90) | 0x04)))
    } else {
        Ok(None)
    }
}

fn encode_lc(nc: usize, form: LengthForm) -> ([u8; 3], usize) {
    match form {
        LengthForm::Short => ([nc as u8, 0, 0], 1),
        LengthForm::Extended => {
            let [hi, lo] = (nc as u16).to_be_bytes();
            ([0, hi, lo], 3)
        }
    }
}

impl fmt::Debug for ResponseContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseContext")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

/// GP protects only `9000` and warnings `62XX`/`63XX` (§6.2.5).
pub(crate) fn is_protected_status(sw: StatusWord) -> bool {
    matches!(sw.to_u16() >> 8, 0x62 | 0x63) || sw == StatusWord::Ok
}

/// The state of an open session: session keys, level, MAC chaining value and encryption
/// counter. Shared by the host's [`super::SecureChannel`], the script builder and the card.
pub(crate) struct Channel {
    pub(crate) keys: SessionKeys,
    pub(crate) s_mode: SMode,
    pub(crate) level: SecurityLevel,
    pub(crate) chaining: [u8; 16],
    pub(crate) counter: u64,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("s_mode", &self.s_mode)
            .field("level", &self.level)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// A channel before EXTERNAL AUTHENTICATE: chaining value zero (§6.2.3), counter zero so
    /// that the first command after EXTERNAL AUTHENTICATE uses 1 (§6.2.6).
    pub(crate) fn new(keys: SessionKeys, s_mode: SMode, level: SecurityLevel) -> Self {
        Self {
            keys,
            s_mode,
            level,
            chaining: [0; 16],
            counter: 0,
        }
    }

    fn c_mac(&self, mac_cla: u8, command: &Command, lc: &[u8], data: &[u8]) -> [u8; 16] {
        self.keys.mac.compute(&[
            &self.chaining,
            &[mac_cla, command.ins, command.p1, command.p2],
            lc,
            data,
        ])
    }

    /// Host: the EXTERNAL AUTHENTICATE command (§7.1.2): `84 82 level 00 Lc host-cryptogram
    /// C-MAC`, MACed with chaining value zero, never encrypted.
    pub(crate) fn external_authenticate(&mut self, host_cryptogram: &[u8]) -> Command {
        let header = Command::new(0x84, 0x82, self.level.to_u8(), 0x00);
        let s = self.s_mode.byte_len();
        let (lc, n) = encode_lc(host_cryptogram.len() + s, LengthForm::Short);
        let mac = self.c_mac(0x84, &header, &lc[..n], host_cryptogram);
        self.chaining = mac;
        let mut data = Vec::with_capacity(2 * s);
        data.extend_from_slice(host_cryptogram);
        data.extend_from_slice(&mac[..s]);
        header.with_data(data)
    }

    /// Host: wraps one command (§6.2.6 then §6.2.4). `Le`, when present, becomes the
    /// maximum of the length form, since R-MAC and padding lengthen the response.
    pub(crate) fn wrap_command(
        &mut self,
        command: &Command,
    ) -> Result<(Command, ResponseContext), Scp03Error> {
        let (wire_cla, mac_cla) = secure_cla(command.cla)?;
        let counter = self
            .counter
            .checked_add(1)
            .ok_or(Scp03Error::EncryptionCounterExhausted)?;
        let s = self.s_mode.byte_len();
        // §6.2.6: no encryption without a data field; the counter still moves.
        let mut data = if self.level.c_dec() && !command.data.is_empty() {
            let mut padded = pad(&command.data);
            let icv = self.keys.enc.icv(counter, false);
            self.keys.enc.cbc_encrypt(&icv, &mut padded);
            padded
        } else {
            command.data.clone()
        };
        let nc = data.len() + s;
        if nc > EXTENDED_NC_MAX {
            return Err(Scp03Error::DataTooLong);
        }
        let form = if nc > SHORT_NC_MAX || command.le.is_some_and(|ne| ne > 256) {
            LengthForm::Extended
        } else {
            LengthForm::Short
        };
        let (lc, n) = encode_lc(nc, form);
        let mac = self.c_mac(mac_cla, command, &lc[..n], &data);
        data.extend_from_slice(&mac[..s]);
        self.chaining = mac;
        self.counter = counter;
        let le = command.le.map(|_| match form {
            LengthForm::Short => 256,
            LengthForm::Extended => 65_536,
        });
        let wrapped = Command {
            cla: wire_cla,
            ins: command.ins,
            p1: command.p1,
            p2: command.p2,
            data,
            le,
        };
        Ok((
            wrapped,
            ResponseContext {
                chaining: mac,
                counter,
            },
        ))
    }

    /// Host: checks and decrypts the response to the command of `context` (§6.2.5, §6.2.7).
    pub(crate) fn unwrap_response(
        &self,
        context: &ResponseContext,
        response: &Response,
    ) -> Result<CommandResult, Scp03Error> {
        if !self.level.r_mac() {
            return Ok(CommandResult::Unauthenticated(response.clone()));
        }
        if !is_protected_status(response.sw) {
            if !response.data.is_empty() {
                return Err(Scp03Error::UnexpectedErrorData);
            }
            return Ok(CommandResult::Unauthenticated(response.clone()));
        }
        let s = self.s_mode.byte_len();
        let Some(body_len) = response.data.len().checked_sub(s) else {
            return Err(Scp03Error::MissingRMac);
        };
        let (body, r_mac) = response.data.split_at(body_len);
        let expected = self
            .keys
            .rmac
            .compute(&[&context.chaining, body, &response.sw.to_bytes()]);
        if !ct_eq(&expected[..s], r_mac) {
            return Err(Scp03Error::RMacMismatch);
        }
        let data = if self.level.r_enc() && !body.is_empty() {
            if body.len() % 16 != 0 {
                return Err(Scp03Error::BadPadding);
            }
            let mut plain = body.to_vec();
            let icv = self.keys.enc.icv(context.counter, true);
            self.keys.enc.cbc_decrypt(&icv, &mut plain);
            unpad(plain)?
        } else {
            body.to_vec()
        };
        Ok(CommandResult::Authenticated(Response::new(
            data,
            response.sw,
        )))
    }

    /// Card: verifies and decrypts one command (§6.2.4, §6.2.6). `form` is the length form
    /// it was received in: the MAC covers the Lc bytes as sent.
    pub(crate) fn unwrap_command(
        &mut self,
        command: &Command,
        form: LengthForm,
    ) -> Result<Command, Scp03Error> {
        // §5.6: every command of an open session is checked against its level, whatever its
        // secure messaging indicator; all levels include C-MAC.
        let Some((plain_cla, mac_cla)) = received_cla(command.cla)? else {
            return Err(Scp03Error::SecureMessagingMissing);
        };
        let s = self.s_mode.byte_len();
        let Some(body_len) = command.data.len().checked_sub(s) else {
            return Err(Scp03Error::SecureMessagingMissing);
        };
        let (body, c_mac) = command.data.split_at(body_len);
        let (lc, n) = encode_lc(command.data.len(), form);
        let expected = self.c_mac(mac_cla, command, &lc[..n], body);
        if !ct_eq(&expected[..s], c_mac) {
            return Err(Scp03Error::CMacMismatch);
        }
        let counter = self
            .counter
            .checked_add(1)
            .ok_or(Scp03Error::EncryptionCounterExhausted)?;
        self.chaining = expected;
        self.counter = counter;
        // §6.2.6: an empty data field is not encrypted, but hosts that send one encrypted
        // padding block (`80 00..`) are accepted: it decrypts to empty data.
        let data = if self.level.c_dec() && !body.is_empty() {
            if body.len() % 16 != 0 {
                return Err(Scp03Error::BadPadding);
            }
            let mut plain = body.to_vec();
            let icv = self.keys.enc.icv(counter, false);
            self.keys.enc.cbc_decrypt(&icv, &mut plain);
            unpad(plain)?
        } else {
            body.to_vec()
        };
        Ok(Command {
            cla: plain_cla,
            ins: command.ins,
            p1: command.p1,
            p2: command.p2,
            data,
            le: command.le,
        })
    }

    /// Card: protects one response (§6.2.7 then §6.2.5). Error status words go bare.
    pub(crate) fn wrap_response(&self, response: Response) -> Response {
        if !self.level.r_mac() {
            return response;
        }
        if !is_protected_status(response.sw) {
            return Response::status(response.sw);
        }
        let sw = response.sw;
        let mut body = if self.level.r_enc() && !response.data.is_empty() {
            let mut padded = pad(&response.data);
            let icv = self.keys.enc.icv(self.counter, true);
            self.keys.enc.cbc_encrypt(&icv, &mut padded);
            padded
        } else {
            response.data
        };
        let r_mac = self
            .keys
            .rmac
            .compute(&[&self.chaining, &body, &sw.to_bytes()]);
        body.extend_from_slice(&r_mac[..self.s_mode.byte_len()]);
        Response::new(body, sw)
    }

    /// Card: checks an EXTERNAL AUTHENTICATE's C-MAC (chaining value zero, §6.2.3) and
    /// makes it the chaining value.
    pub(crate) fn verify_external_authenticate_mac(
        &mut self,
        command: &Command,
        form: LengthForm,
    ) -> Result<(), Scp03Error> {
        let s = self.s_mode.byte_len();
        let Some(body_len) = command.data.len().checked_sub(s) else {
            return Err(Scp03Error::WrongLength);
        };
        let (body, c_mac) = command.data.split_at(body_len);
        let (lc, n) = encode_lc(command.data.len(), form);
        let expected = self.c_mac(0x84, command, &lc[..n], body);
        if !ct_eq(&expected[..s], c_mac) {
            return Err(Scp03Error::CMacMismatch);
        }
        self.chaining = expected;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_bytes() {
        assert_eq!(secure_cla(0x80), Ok((0x84, 0x84)));
        assert_eq!(secure_cla(0x00), Ok((0x04, 0x04)));
        // Logical channel 2 is sent but not MACed (§6.2.4).
        assert_eq!(secure_cla(0x82), Ok((0x86, 0x84)));
        // Channel 4+ in the further interindustry coding: SM is b6.
        assert_eq!(secure_cla(0xC1), Ok((0xE1, 0x84)));
        assert!(secure_cla(0x84).is_err());
        assert!(secure_cla(0x0C).is_err());
        assert!(secure_cla(0xE0).is_err());
        assert_eq!(received_cla(0x86), Ok(Some((0x82, 0x84))));
        assert_eq!(received_cla(0xE1), Ok(Some((0xC1, 0x84))));
        assert_eq!(received_cla(0x80), Ok(None));
        assert!(received_cla(0x0C).is_err());
        for cla in 0..=0xFEu8 {
            if let Ok((wire, mac)) = secure_cla(cla) {
                assert_eq!(received_cla(wire), Ok(Some((cla, mac))), "{cla:02X}");
            }
        }
    }

    #[test]
    fn protected_status_words() {
        assert!(is_protected_status(StatusWord::Ok));
        assert!(is_protected_status(StatusWord::AuthenticationFailed));
        assert!(is_protected_status(StatusWord::Counter(2)));
        assert!(is_protected_status(StatusWord::EndOfFile));
        assert!(!is_protected_status(StatusWord::BytesRemaining(0x10)));
        assert!(!is_protected_status(StatusWord::FileNotFound));
    }
}

#[cfg(test)]
mod padding_block_tests {
    use super::*;
    use crate::scp03::keys::StaticKeys;
    use crate::scp03::params::Challenge;

    fn channel(level: SecurityLevel) -> Channel {
        let keys = StaticKeys::from_slices(&[1; 16], &[2; 16], &[3; 16]).unwrap();
        let hc = Challenge::from_slice(&[4; 8]).unwrap();
        let cc = Challenge::from_slice(&[5; 8]).unwrap();
        let session = SessionKeys::derive(&keys, &hc, &cc).unwrap();
        Channel::new(session, SMode::S8, level)
    }

    // Amendment D §6.2.6: an empty data field is not encrypted, but some hosts send one
    // encrypted padding block; the card must take it as empty data.
    #[test]
    fn card_accepts_encrypted_padding_block_for_empty_data() {
        let mut host = channel(SecurityLevel::Full);
        let mut card = channel(SecurityLevel::Full);
        let plain = Command::new(0x80, 0xF2, 0x20, 0x02);
        let mut block = pad(&[]);
        host.keys
            .enc
            .cbc_encrypt(&host.keys.enc.icv(1, false), &mut block);
        let (lc, n) = encode_lc(16 + 8, LengthForm::Short);
        let mac = host.c_mac(0x84, &plain, &lc[..n], &block);
        host.chaining = mac;
        host.counter = 1;
        block.extend_from_slice(&mac[..8]);
        let wrapped = Command::new(0x84, 0xF2, 0x20, 0x02).with_data(block);
        let unwrapped = card.unwrap_command(&wrapped, LengthForm::Short).unwrap();
        assert_eq!(unwrapped, plain);
        // Both sides stay in step: the next command from the regular wrapper verifies.
        let (next, _) = host.wrap_command(&plain).unwrap();
        assert_eq!(
            card.unwrap_command(&next, LengthForm::Short).unwrap(),
            plain
        );
        assert_eq!(card.counter, 2);
    }

    // Extended-length commands MAC their three-byte Lc as sent.
    #[test]
    fn extended_length_round_trip() {
        let mut host = channel(SecurityLevel::CMacCDec);
        let mut card = channel(SecurityLevel::CMacCDec);
        let plain = Command::new(0x80, 0xE8, 0x00, 0x00).with_data(alloc::vec![0x5A; 1000]);
        let (wrapped, _) = host.wrap_command(&plain).unwrap();
        let bytes = wrapped.to_bytes().unwrap();
        assert_eq!(bytes[4], 0x00);
        let (parsed, form) = Command::parse_with_form(&bytes).unwrap();
        assert_eq!(form, LengthForm::Extended);
        assert_eq!(card.unwrap_command(&parsed, form).unwrap(), plain);
    }
}
