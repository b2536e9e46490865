//! ISO/IEC 7816-4 application protocol data units.
//!
//! [`Command`] covers the four cases of ISO/IEC 7816-3 §12.1.3 in short and extended length;
//! [`Response`] is response data followed by a [`StatusWord`]. Parsing is strict: every byte
//! of the input must be accounted for by exactly one of the encodings of §12.1.3.

use alloc::vec::Vec;
use core::fmt;

/// Largest `Nc` (command data length) of a short APDU.
pub const SHORT_NC_MAX: usize = 255;
/// Largest `Ne` (expected response length) of a short APDU; encoded as `00`.
pub const SHORT_NE_MAX: u32 = 256;
/// Largest `Nc` of an extended APDU.
pub const EXTENDED_NC_MAX: usize = 65_535;
/// Largest `Ne` of an extended APDU; encoded as `00 00`.
pub const EXTENDED_NE_MAX: u32 = 65_536;

/// Errors from encoding or parsing APDUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApduError {
    /// Fewer than the four header bytes (command) or two status bytes (response).
    TooShort,
    /// The length fields do not account for exactly the bytes present (ISO/IEC 7816-3 §12.1.3).
    LengthMismatch,
    /// An extended `Lc` of zero, which §12.1.3 does not allow.
    ZeroExtendedLc,
    /// Command data longer than 65,535 bytes, or longer than 255 where short form was required.
    DataTooLong,
    /// `Ne` of zero or above 65,536, or above 256 where short form was required.
    InvalidLe,
}

impl fmt::Display for ApduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooShort => "APDU too short",
            Self::LengthMismatch => "APDU length fields do not match its size",
            Self::ZeroExtendedLc => "extended APDU with Lc of zero",
            Self::DataTooLong => "APDU command data too long",
            Self::InvalidLe => "APDU Le out of range",
        })
    }
}

impl core::error::Error for ApduError {}

impl From<&ApduError> for StatusWord {
    /// A card answers every malformed command with `6700` (wrong length).
    fn from(_: &ApduError) -> Self {
        StatusWord::WrongLength
    }
}

/// How the length fields of a command are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthForm {
    /// One-byte `Lc` and `Le`.
    Short,
    /// Three-byte `Lc` (`00 hi lo`) and two- or three-byte `Le`.
    Extended,
}

/// The four command cases of ISO/IEC 7816-3 §12.1.3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// No data, no response data expected.
    Case1,
    /// No data, response data expected.
    Case2,
    /// Data, no response data expected.
    Case3,
    /// Data, and response data expected.
    Case4,
}

/// A command APDU.
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (`Nc` = its length); empty when absent.
    pub data: Vec<u8>,
    /// Expected response length `Ne` (1..=65,536), or `None` when `Le` is absent.
    pub le: Option<u32>,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Command data may be a wrapped secret (PUT KEY, personalization): show only its length.
        f.debug_struct("Command")
            .field("cla", &format_args!("{:02X}", self.cla))
            .field("ins", &format_args!("{:02X}", self.ins))
            .field("p1", &format_args!("{:02X}", self.p1))
            .field("p2", &format_args!("{:02X}", self.p2))
            .field("nc", &self.data.len())
            .field("le", &self.le)
            .finish()
    }
}

impl Command {
    /// A case 1 command: header only.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
        }
    }

    /// Sets the command data.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// Sets the expected response length `Ne` (256 for "up to 256" in short form).
    pub fn with_le(mut self, ne: u32) -> Self {
        self.le = Some(ne);
        self
    }

    /// The command's case.
    pub fn case(&self) -> Case {
        match (self.data.is_empty(), self.le.is_some()) {
            (true, false) => Case::Case1,
            (true, true) => Case::Case2,
            (false, false) => Case::Case3,
            (false, true) => Case::Case4,
        }
    }

    /// The shortest form that can encode this command.
    pub fn natural_form(&self) -> LengthForm {
        if self.data.len() <= SHORT_NC_MAX && self.le.is_none_or(|ne| ne <= SHORT_NE_MAX) {
            LengthForm::Short
        } else {
            LengthForm::Extended
        }
    }

    /// Encodes in the shortest form that fits.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ApduError> {
        self.to_bytes_in(self.natural_form())
    }

    /// Encodes in the given form.
    pub fn to_bytes_in(&self, form: LengthForm) -> Result<Vec<u8>, ApduError> {
        let nc = self.data.len();
        let (nc_max, ne_max) = match form {
            LengthForm::Short => (SHORT_NC_MAX, SHORT_NE_MAX),
            LengthForm::Extended => (EXTENDED_NC_MAX, EXTENDED_NE_MAX),
        };
        if nc > nc_max {
            return Err(ApduError::DataTooLong);
        }
        if let Some(ne) = self.le {
            if ne == 0 || ne > ne_max {
                return Err(ApduError::InvalidLe);
            }
        }
        let mut out = Vec::with_capacity(4 + 3 + nc + 3);
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        match form {
            LengthForm::Short => {
                if nc > 0 {
                    out.push(nc as u8);
                    out.extend_from_slice(&self.data);
                }
                if let Some(ne) = self.le {
                    // 256 wraps to 00 (§12.1.3).
                    out.push((ne & 0xFF) as u8);
                }
            }
            LengthForm::Extended => {
                if nc > 0 {
                    out.push(0);
                    out.extend_from_slice(&(nc as u16).to_be_bytes());
                    out.extend_from_slice(&self.data);
                }
                if let Some(ne) = self.le {
                    if nc == 0 {
                        out.push(0);
                    }
                    // 65,536 wraps to 00 00 (§12.1.3).
                    out.extend_from_slice(&((ne & 0xFFFF) as u16).to_be_bytes());
                }
            }
        }
        Ok(out)
    }

    /// Parses a command APDU, strictly (ISO/IEC 7816-3 §12.1.3).
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        Self::parse_with_form(bytes).map(|(command, _)| command)
    }

    /// Parses a command APDU and reports which length form it used.
    pub fn parse_with_form(bytes: &[u8]) -> Result<(Self, LengthForm), ApduError> {
        let [cla, ins, p1, p2, body @ ..] = bytes else {
            return Err(ApduError::TooShort);
        };
        let mut command = Self::new(*cla, *ins, *p1, *p2);
        let form = match body {
            // Case 1.
            [] => LengthForm::Short,
            // Case 2S.
            [le] => {
                command.le = Some(short_ne(*le));
                LengthForm::Short
            }
            // Cases 3S and 4S.
            [lc, rest @ ..] if *lc != 0 => {
                let nc = usize::from(*lc);
                match rest.len().checked_sub(nc) {
                    Some(0) => command.data = rest.to_vec(),
                    Some(1) => {
                        command.data = rest[..nc].to_vec();
                        command.le = Some(short_ne(rest[nc]));
                    }
                    _ => return Err(ApduError::LengthMismatch),
                }
                LengthForm::Short
            }
            // Case 2E.
            [0, hi, lo] => {
                command.le = Some(extended_ne(*hi, *lo));
                LengthForm::Extended
            }
            // Cases 3E and 4E.
            [0, hi, lo, rest @ ..] => {
                let nc = usize::from(u16::from_be_bytes([*hi, *lo]));
                if nc == 0 {
                    return Err(ApduError::ZeroExtendedLc);
                }
                match rest.len().checked_sub(nc) {
                    Some(0) => command.data = rest.to_vec(),
                    Some(2) => {
                        command.data = rest[..nc].to_vec();
                        command.le = Some(extended_ne(rest[nc], rest[nc + 1]));
                    }
                    _ => return Err(ApduError::LengthMismatch),
                }
                LengthForm::Extended
            }
            _ => return Err(ApduError::LengthMismatch),
        };
        Ok((command, form))
    }
}

fn short_ne(le: u8) -> u32 {
    if le == 0 { SHORT_NE_MAX } else { u32::from(le) }
}

fn extended_ne(hi: u8, lo: u8) -> u32 {
    match u16::from_be_bytes([hi, lo]) {
        0 => EXTENDED_NE_MAX,
        ne => u32::from(ne),
    }
}

/// A response APDU: data, then the two status bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// Response data; empty when absent.
    pub data: Vec<u8>,
    /// The status word.
    pub sw: StatusWord,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("len", &self.data.len())
            .field("sw", &self.sw)
            .finish()
    }
}

impl Response {
    /// A response with data and a status word.
    pub fn new(data: impl Into<Vec<u8>>, sw: StatusWord) -> Self {
        Self {
            data: data.into(),
            sw,
        }
    }

    /// A response that is only a status word.
    pub fn status(sw: StatusWord) -> Self {
        Self::new(Vec::new(), sw)
    }

    /// Parses a response APDU (at least the two status bytes).
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        let [data @ .., sw1, sw2] = bytes else {
            return Err(ApduError::TooShort);
        };
        Ok(Self::new(data, StatusWord::from_bytes(*sw1, *sw2)))
    }

    /// Encodes the response.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_bytes());
        out
    }
}

macro_rules! status_words {
    ($($(#[$doc:meta])* $name:ident = $value:literal,)*) => {
        /// A status word (SW1 SW2) with the common meanings of ISO/IEC 7816-4 §5.6 and
        /// GlobalPlatform Card Specification §11.1.3.
        ///
        /// [`StatusWord::from_u16`] is canonical: a value with a named variant never becomes
        /// [`StatusWord::Other`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum StatusWord {
            $($(#[$doc])* $name,)*
            /// `61XX`: normal processing, XX more bytes available with GET RESPONSE (00 = 256).
            BytesRemaining(u8),
            /// `63CX`: verification failed, X retries left (or a counter value).
            Counter(u8),
            /// `6CXX`: wrong `Le`; XX is the exact length available.
            WrongLe(u8),
            /// Any other value.
            Other(u16),
        }

        impl StatusWord {
            /// The status word for a 16-bit value.
            pub const fn from_u16(value: u16) -> Self {
                match value {
                    $($value => Self::$name,)*
                    0x6100..=0x61FF => Self::BytesRemaining((value & 0xFF) as u8),
                    0x63C0..=0x63CF => Self::Counter((value & 0x0F) as u8),
                    0x6C00..=0x6CFF => Self::WrongLe((value & 0xFF) as u8),
                    _ => Self::Other(value),
                }
            }

            /// The 16-bit value.
            pub const fn to_u16(self) -> u16 {
                match self {
                    $(Self::$name => $value,)*
                    Self::BytesRemaining(n) => 0x6100 | n as u16,
                    Self::Counter(n) => 0x63C0 | (n & 0x0F) as u16,
                    Self::WrongLe(n) => 0x6C00 | n as u16,
                    Self::Other(value) => value,
                }
            }
        }
    };
}

status_words! {
    /// `9000`: normal processing.
    Ok = 0x9000,
    /// `6200`: warning, non-volatile memory unchanged.
    WarningUnchanged = 0x6200,
    /// `6281`: part of returned data may be corrupted.
    DataMayBeCorrupted = 0x6281,
    /// `6282`: end of file or record reached before `Ne` bytes.
    EndOfFile = 0x6282,
    /// `6283`: selected file (application) invalidated or locked.
    SelectedFileInvalidated = 0x6283,
    /// `6300`: warning, non-volatile memory changed; GlobalPlatform: authentication of the host
    /// cryptogram failed.
    AuthenticationFailed = 0x6300,
    /// `6400`: execution error, non-volatile memory unchanged.
    ExecutionError = 0x6400,
    /// `6581`: memory failure.
    MemoryFailure = 0x6581,
    /// `6700`: wrong length.
    WrongLength = 0x6700,
    /// `6881`: logical channel not supported.
    LogicalChannelNotSupported = 0x6881,
    /// `6882`: secure messaging not supported.
    SecureMessagingNotSupported = 0x6882,
    /// `6883`: last command of the chain expected.
    LastCommandOfChainExpected = 0x6883,
    /// `6884`: command chaining not supported.
    ChainingNotSupported = 0x6884,
    /// `6982`: security status not satisfied.
    SecurityStatusNotSatisfied = 0x6982,
    /// `6983`: authentication method blocked.
    AuthenticationMethodBlocked = 0x6983,
    /// `6984`: reference data not usable.
    ReferenceDataNotUsable = 0x6984,
    /// `6985`: conditions of use not satisfied.
    ConditionsNotSatisfied = 0x6985,
    /// `6986`: command not allowed.
    CommandNotAllowed = 0x6986,
    /// `6987`: expected secure messaging data objects missing.
    SmDataObjectsMissing = 0x6987,
    /// `6988`: incorrect secure messaging data objects (GlobalPlatform: wrong MAC).
    SmDataObjectsIncorrect = 0x6988,
    /// `6A80`: incorrect parameters in the command data field.
    IncorrectData = 0x6A80,
    /// `6A81`: function not supported.
    FunctionNotSupported = 0x6A81,
    /// `6A82`: file or application not found.
    FileNotFound = 0x6A82,
    /// `6A83`: record not found.
    RecordNotFound = 0x6A83,
    /// `6A84`: not enough memory space in the file.
    NotEnoughMemory = 0x6A84,
    /// `6A86`: incorrect parameters P1-P2.
    IncorrectP1P2 = 0x6A86,
    /// `6A88`: referenced data or reference data not found.
    ReferencedDataNotFound = 0x6A88,
    /// `6A89`: file already exists.
    FileAlreadyExists = 0x6A89,
    /// `6B00`: wrong parameters P1-P2.
    WrongP1P2 = 0x6B00,
    /// `6D00`: instruction code not supported or invalid.
    InsNotSupported = 0x6D00,
    /// `6E00`: class not supported.
    ClaNotSupported = 0x6E00,
    /// `6F00`: no precise diagnosis.
    NoPreciseDiagnosis = 0x6F00,
}

impl StatusWord {
    /// The status word for SW1 and SW2.
    pub const fn from_bytes(sw1: u8, sw2: u8) -> Self {
        Self::from_u16(u16::from_be_bytes([sw1, sw2]))
    }

    /// SW1 and SW2.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.to_u16().to_be_bytes()
    }

    /// Normal processing: `9000` or `61XX`.
    pub const fn is_success(self) -> bool {
        matches!(self, Self::Ok | Self::BytesRemaining(_))
    }

    /// A warning: `62XX` or `63XX`.
    pub const fn is_warning(self) -> bool {
        matches!(self.to_u16() >> 8, 0x62 | 0x63)
    }
}

impl From<u16> for StatusWord {
    fn from(value: u16) -> Self {
        Self::from_u16(value)
    }
}

impl From<StatusWord> for u16 {
    fn from(sw: StatusWord) -> Self {
        sw.to_u16()
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.to_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn hex(s: &str) -> Vec<u8> {
        ::hex::decode(s.replace(' ', "")).unwrap()
    }

    // Encodings from ISO/IEC 7816-3 §12.1.3, one per case and form.
    #[test]
    fn cases_short_and_extended() {
        let table: &[(&str, Command, LengthForm)] = &[
            ("00A40400", Command::new(0, 0xA4, 4, 0), LengthForm::Short),
            (
                "00CA006600",
                Command::new(0, 0xCA, 0, 0x66).with_le(256),
                LengthForm::Short,
            ),
            (
                "00CA006610",
                Command::new(0, 0xCA, 0, 0x66).with_le(16),
                LengthForm::Short,
            ),
            (
                "00A4040003A00001",
                Command::new(0, 0xA4, 4, 0).with_data(vec![0xA0, 0, 1]),
                LengthForm::Short,
            ),
            (
                "00A4040003A0000100",
                Command::new(0, 0xA4, 4, 0)
                    .with_data(vec![0xA0, 0, 1])
                    .with_le(256),
                LengthForm::Short,
            ),
            (
                "00B00000000000",
                Command::new(0, 0xB0, 0, 0).with_le(65_536),
                LengthForm::Extended,
            ),
            (
                "00B00000000101",
                Command::new(0, 0xB0, 0, 0).with_le(257),
                LengthForm::Extended,
            ),
        ];
        for (encoded, command, form) in table {
            let bytes = hex(encoded);
            assert_eq!(
                Command::parse_with_form(&bytes).unwrap(),
                (command.clone(), *form)
            );
            assert_eq!(command.to_bytes_in(*form).unwrap(), bytes, "{encoded}");
        }
        // Case 3E: data, no Le.
        let bytes = hex("00DA0000000002AABB");
        let (command, form) = Command::parse_with_form(&bytes).unwrap();
        assert_eq!(form, LengthForm::Extended);
        assert_eq!(command.case(), Case::Case3);
        assert_eq!(command.to_bytes_in(LengthForm::Extended).unwrap(), bytes);
        // Case 4E with Le = 00 00 meaning 65,536.
        let bytes = hex("00DA0000000002AABB0000");
        let command = Command::parse(&bytes).unwrap();
        assert_eq!(command.le, Some(65_536));
        assert_eq!(command.case(), Case::Case4);
        assert_eq!(command.to_bytes().unwrap(), bytes);
    }

    #[test]
    fn natural_form_switches_to_extended() {
        let command = Command::new(0x80, 0xE2, 0, 0).with_data(vec![7; 300]);
        let bytes = command.to_bytes().unwrap();
        assert_eq!(&bytes[4..7], &[0x00, 0x01, 0x2C]);
        assert_eq!(Command::parse(&bytes).unwrap(), command);
        assert_eq!(
            command.to_bytes_in(LengthForm::Short),
            Err(ApduError::DataTooLong)
        );
        let big = Command::new(0, 0xB0, 0, 0).with_data(vec![0; 65_536]);
        assert_eq!(big.to_bytes(), Err(ApduError::DataTooLong));
        let bad_le = Command::new(0, 0xB0, 0, 0).with_le(65_537);
        assert_eq!(bad_le.to_bytes(), Err(ApduError::InvalidLe));
        assert_eq!(
            Command::new(0, 0xB0, 0, 0).with_le(0).to_bytes(),
            Err(ApduError::InvalidLe)
        );
    }

    #[test]
    fn strict_parse_rejects_malformed() {
        for (input, error) in [
            ("", ApduError::TooShort),
            ("00A404", ApduError::TooShort),
            ("00A4040003A000", ApduError::LengthMismatch),
            ("00A4040003A0000100FF", ApduError::LengthMismatch),
            ("00A404000000", ApduError::LengthMismatch),
            ("00A4040000000000", ApduError::ZeroExtendedLc),
            ("00A40400000002AA", ApduError::LengthMismatch),
            ("00A40400000002AABB00", ApduError::LengthMismatch),
            ("00A40400000002AABB000000", ApduError::LengthMismatch),
        ] {
            assert_eq!(Command::parse(&hex(input)), Err(error), "{input}");
            assert_eq!(StatusWord::from(&error), StatusWord::WrongLength);
        }
    }

    #[test]
    fn truncated_data_is_rejected() {
        // Header, Lc = 8, eight bytes of AID, Le: dropping any data byte must fail; dropping
        // only Le leaves a valid case 3 command.
        let full = hex("00A4040008A00000015100000000");
        for end in 6..full.len() - 1 {
            assert!(
                Command::parse(&full[..end]).is_err(),
                "prefix of {end} bytes"
            );
        }
        assert_eq!(
            Command::parse(&full[..full.len() - 1]).unwrap().case(),
            Case::Case3
        );
    }

    #[test]
    fn responses() {
        let response = Response::parse(&hex("0102039000")).unwrap();
        assert_eq!(response.data, vec![1, 2, 3]);
        assert_eq!(response.sw, StatusWord::Ok);
        assert_eq!(response.to_bytes(), hex("0102039000"));
        assert_eq!(Response::parse(&hex("90")), Err(ApduError::TooShort));
        assert_eq!(
            Response::parse(&hex("6A82")).unwrap().sw,
            StatusWord::FileNotFound
        );
    }

    #[test]
    fn status_words_round_trip_canonically() {
        for value in 0..=u16::MAX {
            let sw = StatusWord::from_u16(value);
            assert_eq!(sw.to_u16(), value);
            if let StatusWord::Other(_) = sw {
                assert!(!matches!(value >> 8, 0x61 | 0x6C));
            }
        }
        assert_eq!(
            StatusWord::from_u16(0x6110),
            StatusWord::BytesRemaining(0x10)
        );
        assert_eq!(StatusWord::from_u16(0x63C2), StatusWord::Counter(2));
        assert!(StatusWord::BytesRemaining(0).is_success());
        assert!(StatusWord::AuthenticationFailed.is_warning());
        assert!(!StatusWord::WrongLength.is_success());
        assert_eq!(alloc::format!("{}", StatusWord::IncorrectP1P2), "6A86");
    }

    #[test]
    fn debug_hides_command_data() {
        let command = Command::new(0x84, 0xD8, 0, 0).with_data(vec![0x42; 16]);
        let shown = alloc::format!("{command:?}");
        assert!(!shown.contains("42, 42"), "{shown}");
        assert!(shown.contains("nc: 16"));
    }
}
