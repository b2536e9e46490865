//! NFC Forum Type 4 Tag (T4T 3.0) reading, sans-IO, for NFC static handover (18013-5
//! §8.2.2.1): the phone serves its Handover Select message as the NDEF file of an NDEF tag
//! application; the kiosk reads it.
//!
//! Reader: SELECT `D2760000850101`, SELECT the capability container `E103`, READ BINARY it,
//! SELECT the NDEF file it names, READ BINARY the 2-byte NLEN, then READ BINARY the message in
//! chunks of at most the tag's `MLe`. The tag side answers the same commands, read-only.

use alloc::vec::Vec;

use crate::apdu::{Command, Response, StatusWord};

use super::error::OfflineError;
use super::ndef::MAX_NDEF_LEN;

/// The NDEF tag application (T4T 3.0 §5.3.1).
pub const NDEF_AID: [u8; 7] = [0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01];
/// The capability container file.
pub const CC_FILE: [u8; 2] = [0xE1, 0x03];
/// The NDEF file this tag side serves.
pub const NDEF_FILE: [u8; 2] = [0xE1, 0x04];
/// READ BINARY.
pub const INS_READ_BINARY: u8 = 0xB0;
const INS_SELECT: u8 = 0xA4;
/// Largest `Le` the tag side announces (`MLe`).
const TAG_MLE: u16 = 0x00FF;

fn select_aid() -> Command {
    Command::new(0x00, INS_SELECT, 0x04, 0x00)
        .with_data(NDEF_AID.to_vec())
        .with_le(256)
}

fn select_file(id: [u8; 2]) -> Command {
    Command::new(0x00, INS_SELECT, 0x00, 0x0C).with_data(id.to_vec())
}

fn read_binary(offset: u16, le: u16) -> Command {
    let [p1, p2] = offset.to_be_bytes();
    Command::new(0x00, INS_READ_BINARY, p1, p2).with_le(u32::from(le))
}

#[derive(Debug)]
enum Step {
    SelectApp,
    SelectCc,
    ReadCc,
    SelectNdef,
    ReadLength,
    ReadData,
}

/// What to do after a response.
#[derive(Debug)]
pub enum TagNext {
    /// Send this command.
    Command(Command),
    /// The NDEF message.
    Message(Vec<u8>),
}

/// The reader's side: reads the tag's NDEF message.
#[derive(Debug)]
pub struct NdefTagReader {
    step: Step,
    /// Largest `Le` for READ BINARY (min of the tag's `MLe` and ours).
    max_le: u16,
    file: [u8; 2],
    length: usize,
    data: Vec<u8>,
}

impl NdefTagReader {
    /// Starts reading; returns the reader and its first command.
    pub fn start() -> (Self, Command) {
        (
            Self {
                step: Step::SelectApp,
                max_le: 0xFF,
                file: NDEF_FILE,
                length: 0,
                data: Vec::new(),
            },
            select_aid(),
        )
    }

    fn next_read(&self) -> Command {
        let offset = 2 + self.data.len();
        let remaining = self.length - self.data.len();
        read_binary(offset as u16, (remaining as u16).min(self.max_le))
    }

    /// Handles the response to the last command.
    pub fn handle_response(&mut self, response: &Response) -> Result<TagNext, OfflineError> {
        if response.sw != StatusWord::Ok {
            return Err(OfflineError::UnexpectedStatusWord(response.sw));
        }
        let data = &response.data;
        let next = match self.step {
            Step::SelectApp => {
                self.step = Step::SelectCc;
                select_file(CC_FILE)
            }
            Step::SelectCc => {
                self.step = Step::ReadCc;
                read_binary(0, 15)
            }
            Step::ReadCc => {
                // CCLEN (2), mapping version (1), MLe (2), MLc (2), then the NDEF File Control
                // TLV: 04 06 file-id(2) max-size(2) read-access write-access (T4T 3.0 §5.1.2).
                if data.len() < 15 || data[3..5] == [0, 0] {
                    return Err(OfflineError::InvalidNdef);
                }
                if data[2] >> 4 != 2 && data[2] >> 4 != 3 {
                    return Err(OfflineError::UnsupportedVersion);
                }
                if data[7] != 0x04 || data[8] < 0x06 || data[13] != 0x00 {
                    return Err(OfflineError::InvalidNdef);
                }
                let mle = u16::from_be_bytes([data[3], data[4]]);
                self.max_le = mle.clamp(1, 0xFF);
                self.file = [data[9], data[10]];
                self.step = Step::SelectNdef;
                select_file(self.file)
            }
            Step::SelectNdef => {
                self.step = Step::ReadLength;
                read_binary(0, 2)
            }
            Step::ReadLength => {
                let [hi, lo] = data[..] else {
                    return Err(OfflineError::InvalidNdef);
                };
                self.length = usize::from(u16::from_be_bytes([hi, lo]));
                if self.length == 0 {
                    return Err(OfflineError::NoDeviceEngagement);
                }
                if self.length > MAX_NDEF_LEN {
                    return Err(OfflineError::MessageTooLarge);
                }
                self.step = Step::ReadData;
                self.next_read()
            }
            Step::ReadData => {
                let remaining = self.length - self.data.len();
                if data.is_empty() || data.len() > remaining {
                    return Err(OfflineError::InvalidNdef);
                }
                self.data.extend_from_slice(data);
                if self.data.len() == self.length {
                    return Ok(TagNext::Message(core::mem::take(&mut self.data)));
                }
                self.next_read()
            }
        };
        Ok(TagNext::Command(next))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Selected {
    None,
    Application,
    Cc,
    Ndef,
}

/// The tag's side: serves one NDEF message, read-only.
#[derive(Debug)]
pub struct NdefTag {
    cc: [u8; 15],
    file: Vec<u8>,
    selected: Selected,
}

impl NdefTag {
    /// A tag serving `message` (at most [`MAX_NDEF_LEN`] bytes).
    pub fn new(message: &[u8]) -> Result<Self, OfflineError> {
        if message.len() > MAX_NDEF_LEN {
            return Err(OfflineError::MessageTooLarge);
        }
        let max_size = (message.len() + 2) as u16;
        let mut cc = [0u8; 15];
        cc[..2].copy_from_slice(&15u16.to_be_bytes());
        cc[2] = 0x20;
        cc[3..5].copy_from_slice(&TAG_MLE.to_be_bytes());
        cc[5..7].copy_from_slice(&0x00FFu16.to_be_bytes());
        cc[7] = 0x04;
        cc[8] = 0x06;
        cc[9..11].copy_from_slice(&NDEF_FILE);
        cc[11..13].copy_from_slice(&max_size.to_be_bytes());
        cc[13] = 0x00; // read access granted
        cc[14] = 0xFF; // no write access
        let mut file = Vec::with_capacity(message.len() + 2);
        file.extend_from_slice(&(message.len() as u16).to_be_bytes());
        file.extend_from_slice(message);
        Ok(Self {
            cc,
            file,
            selected: Selected::None,
        })
    }

    /// Whether a command is a SELECT of the NDEF tag application (for a dispatcher that also
    /// serves other applications).
    pub fn is_select(command: &Command) -> bool {
        command.ins == INS_SELECT && command.p1 == 0x04 && command.data == NDEF_AID
    }

    /// Processes one command.
    pub fn process(&mut self, command: &Command) -> Response {
        let status = Response::status;
        if command.cla != 0x00 {
            return status(StatusWord::ClaNotSupported);
        }
        match (command.ins, command.p1, command.p2) {
            (INS_SELECT, 0x04, _) => {
                if command.data == NDEF_AID {
                    self.selected = Selected::Application;
                    status(StatusWord::Ok)
                } else {
                    self.selected = Selected::None;
                    status(StatusWord::FileNotFound)
                }
            }
            (INS_SELECT, 0x00, 0x0C) if self.selected == Selected::None => {
                status(StatusWord::FileNotFound)
            }
            (INS_SELECT, 0x00, 0x0C) => match command.data.as_slice() {
                id if id == CC_FILE => {
                    self.selected = Selected::Cc;
                    status(StatusWord::Ok)
                }
                id if id == NDEF_FILE => {
                    self.selected = Selected::Ndef;
                    status(StatusWord::Ok)
                }
                _ => status(StatusWord::FileNotFound),
            },
            (INS_READ_BINARY, p1, p2) => {
                let content: &[u8] = match self.selected {
                    Selected::Cc => &self.cc,
                    Selected::Ndef => &self.file,
                    _ => return status(StatusWord::ConditionsNotSatisfied),
                };
                let offset = usize::from(u16::from_be_bytes([p1, p2]));
                let le = command
                    .le
                    .map_or(256, |ne| ne as usize)
                    .min(usize::from(TAG_MLE));
                if offset > content.len() {
                    return status(StatusWord::WrongP1P2);
                }
                let end = (offset + le).min(content.len());
                Response::new(content[offset..end].to_vec(), StatusWord::Ok)
            }
            (INS_SELECT, _, _) => status(StatusWord::IncorrectP1P2),
            _ => status(StatusWord::InsNotSupported),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn read_all(tag: &mut NdefTag) -> Result<(Vec<u8>, usize), OfflineError> {
        let (mut reader, mut command) = NdefTagReader::start();
        let mut commands = 0;
        loop {
            commands += 1;
            let wire = command.to_bytes().map_err(OfflineError::Apdu)?;
            let response = tag.process(&Command::parse(&wire).map_err(OfflineError::Apdu)?);
            match reader.handle_response(
                &Response::parse(&response.to_bytes()).map_err(OfflineError::Apdu)?,
            )? {
                TagNext::Command(next) => command = next,
                TagNext::Message(message) => return Ok((message, commands)),
            }
        }
    }

    #[test]
    fn reads_messages_of_every_size() {
        for len in [1usize, 200, 253, 254, 255, 256, 600, 4000, MAX_NDEF_LEN] {
            let message: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut tag = NdefTag::new(&message).unwrap();
            let (read, commands) = read_all(&mut tag).unwrap();
            assert_eq!(read, message);
            // 5 fixed commands, then ceil(len / 255) READ BINARY.
            assert_eq!(commands, 5 + len.div_ceil(255));
        }
        assert_eq!(
            NdefTag::new(&vec![0; MAX_NDEF_LEN + 1]).err(),
            Some(OfflineError::MessageTooLarge)
        );
    }

    #[test]
    fn refusals() {
        let mut tag = NdefTag::new(b"x").unwrap();
        // READ BINARY before any SELECT; a file SELECT before the application.
        assert_eq!(
            tag.process(&read_binary(0, 2)).sw,
            StatusWord::ConditionsNotSatisfied
        );
        assert_eq!(
            tag.process(&select_file(CC_FILE)).sw,
            StatusWord::FileNotFound
        );
        assert_eq!(tag.process(&select_aid()).sw, StatusWord::Ok);
        assert_eq!(
            tag.process(&select_file([0xE1, 0x05])).sw,
            StatusWord::FileNotFound
        );
        assert_eq!(tag.process(&select_file(NDEF_FILE)).sw, StatusWord::Ok);
        assert_eq!(tag.process(&read_binary(9, 1)).sw, StatusWord::WrongP1P2);
        // The reader refuses an error status, a bad CC, an empty NDEF file.
        let (mut reader, _) = NdefTagReader::start();
        assert_eq!(
            reader
                .handle_response(&Response::status(StatusWord::FileNotFound))
                .err(),
            Some(OfflineError::UnexpectedStatusWord(StatusWord::FileNotFound))
        );
        let (mut reader, _) = NdefTagReader::start();
        let ok = Response::status(StatusWord::Ok);
        reader.handle_response(&ok).unwrap();
        reader.handle_response(&ok).unwrap();
        assert_eq!(
            reader
                .handle_response(&Response::new(vec![0; 15], StatusWord::Ok))
                .err(),
            Some(OfflineError::InvalidNdef)
        );
        let mut empty = NdefTag::new(b"").unwrap();
        assert_eq!(
            read_all(&mut empty).err(),
            Some(OfflineError::NoDeviceEngagement)
        );
    }
}
