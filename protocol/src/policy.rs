//! What a provider may ask of a chip: the server's policy decision, made before anything
//! reaches the chip (`docs/server.md`, "Policy").
//!
//! - ID-store operations (`put`, `get`, `delete`, `add`, `sub`, `keygen`) always run in the
//!   provider's own namespace (its id, tag `80` of `docs/applet.md`): the server builds the
//!   commands itself, so a provider cannot name another namespace. The only check here is that
//!   the id fits the applet's namespace (at most [`MAX_NAMESPACE_LEN`] bytes).
//! - Raw `apdu` operations go only to applets the provider was granted (exact AID match), never
//!   to the issuer security domain or the ID-store applet (not even by a partial AID that
//!   SELECT would resolve to them, ISO/IEC 7816-4 §11.2.2.2), and never carry a GlobalPlatform
//!   card-management or secure-channel command, a SELECT or a MANAGE CHANNEL: the server
//!   opens the channel and selects the applet, the provider only speaks to it.
//!
//! [`check_command`] is a pure function of the operations and the provider's grant.
//!
//! ```
//! use kazashi_protocol::envelope::Op;
//! use kazashi_protocol::policy::{Grant, Refusal, check_command};
//!
//! let wallet = [0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10];
//! let allowed = [&wallet[..]];
//! let grant = Grant::new("shop", &allowed);
//! let read = Op::Apdu { aid: wallet.to_vec(), capdu: vec![0x00, 0xB0, 0x00, 0x00, 0x10] };
//! assert!(check_command(&grant, &[read]).is_ok());
//!
//! let delete = Op::Apdu { aid: wallet.to_vec(), capdu: vec![0x80, 0xE4, 0x00, 0x00, 0x00] };
//! let refused = check_command(&grant, &[delete]).unwrap_err();
//! assert_eq!(refused.reason, Refusal::CardManagement);
//! assert_eq!(refused.op, Some(0));
//! assert_eq!(refused.reason.code(), "apdu_card_management");
//! ```

use core::fmt;

use crate::apdu::Command;
use crate::envelope::Op;
use crate::idstore;

/// The longest provider id usable as an ID-store namespace (`docs/applet.md`, tag `80`).
pub const MAX_NAMESPACE_LEN: usize = idstore::MAX_NAMESPACE_LEN;

/// GlobalPlatform's issuer security domain AID (GPCS §H.1.3), refused whatever the chip's
/// own ISD AID is.
pub const GP_ISD_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00];

/// Instructions refused in a proprietary class (`CLA` bit 8 set: GlobalPlatform's `80`–`8F`,
/// `C0`–`CF`, `E0`–`EF`, with or without secure messaging): card management and the secure
/// channel (GPCS §11, Amendment D §7).
pub const CARD_MANAGEMENT_INS: [u8; 12] = [
    0xE4, // DELETE (GPCS §11.2)
    0xE6, // INSTALL (§11.5)
    0xE8, // LOAD (§11.6)
    0xD8, // PUT KEY (§11.8)
    0xF0, // SET STATUS (§11.10)
    0xF1, // SET STATUS, variant
    0xE2, // STORE DATA (§11.11)
    0x50, // INITIALIZE UPDATE (Amendment D §7.1)
    0x82, // EXTERNAL AUTHENTICATE (Amendment D §7.2)
    0x78, // END R-MAC SESSION (GPCS §E.5.2)
    0x7A, // BEGIN R-MAC SESSION (GPCS §E.5.1)
    0x7C, // reserved by GlobalPlatform for secure-channel use
];

/// SELECT (ISO/IEC 7816-4 §11.2.2), refused in any class.
pub const INS_SELECT: u8 = 0xA4;
/// MANAGE CHANNEL (ISO/IEC 7816-4 §11.1.2), refused in any class.
pub const INS_MANAGE_CHANNEL: u8 = 0x70;

/// What one provider is allowed.
#[derive(Clone, Copy, Debug)]
pub struct Grant<'a> {
    /// The provider's id: its namespace in the ID-store applet.
    pub provider: &'a str,
    /// AIDs the provider's raw `apdu` operations may address (exact match).
    pub allowed_aids: &'a [&'a [u8]],
    /// The chip's issuer security domain AID, when the chip is known (GlobalPlatform's
    /// [`GP_ISD_AID`] is refused in any case).
    pub isd_aid: Option<&'a [u8]>,
}

impl<'a> Grant<'a> {
    /// A grant for `provider` with raw access to `allowed_aids`, for a chip not yet known.
    pub fn new(provider: &'a str, allowed_aids: &'a [&'a [u8]]) -> Self {
        Self {
            provider,
            allowed_aids,
            isd_aid: None,
        }
    }

    /// The same grant, for a chip whose ISD has `isd_aid`.
    pub fn with_isd_aid(mut self, isd_aid: &'a [u8]) -> Self {
        self.isd_aid = Some(isd_aid);
        self
    }
}

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The provider's id is too long to be an ID-store namespace.
    NamespaceTooLong,
    /// A raw APDU addressed to the issuer security domain.
    ApduToIsd,
    /// A raw APDU addressed to the ID-store applet (use the ID-store operations).
    ApduToIdStore,
    /// A raw APDU addressed to an applet the provider was not granted.
    AidNotAllowed,
    /// A GlobalPlatform card-management or secure-channel instruction.
    CardManagement,
    /// A SELECT: the server selects the operation's applet itself.
    Select,
    /// A MANAGE CHANNEL.
    ManageChannel,
    /// A class byte naming a logical channel other than the basic one.
    LogicalChannel,
    /// The command APDU does not parse.
    MalformedApdu,
}

impl Refusal {
    /// A stable, snake_case code for clients and logs.
    pub fn code(self) -> &'static str {
        match self {
            Self::NamespaceTooLong => "namespace_too_long",
            Self::ApduToIsd => "apdu_to_isd",
            Self::ApduToIdStore => "apdu_to_idstore",
            Self::AidNotAllowed => "aid_not_allowed",
            Self::CardManagement => "apdu_card_management",
            Self::Select => "apdu_select",
            Self::ManageChannel => "apdu_manage_channel",
            Self::LogicalChannel => "apdu_logical_channel",
            Self::MalformedApdu => "apdu_malformed",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NamespaceTooLong => "provider id too long for an ID-store namespace",
            Self::ApduToIsd => "raw APDU to the issuer security domain",
            Self::ApduToIdStore => "raw APDU to the ID-store applet",
            Self::AidNotAllowed => "raw APDU to an applet the provider is not allowed",
            Self::CardManagement => "GlobalPlatform management or secure-channel command",
            Self::Select => "SELECT in a raw APDU",
            Self::ManageChannel => "MANAGE CHANNEL in a raw APDU",
            Self::LogicalChannel => "raw APDU on a logical channel",
            Self::MalformedApdu => "malformed command APDU",
        })
    }
}

/// A refused command: the reason, and the index of the operation that caused it (`None`
/// when the command as a whole is refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The first offending operation.
    pub op: Option<usize>,
    /// Why.
    pub reason: Refusal,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            Some(i) => write!(f, "operation {i}: {}", self.reason),
            None => write!(f, "{}", self.reason),
        }
    }
}

impl core::error::Error for Violation {}

/// Checks every operation of a command against the provider's grant; the first violation
/// refuses the whole command.
pub fn check_command(grant: &Grant<'_>, ops: &[Op]) -> Result<(), Violation> {
    if grant.provider.is_empty() || grant.provider.len() > MAX_NAMESPACE_LEN {
        return Err(Violation {
            op: None,
            reason: Refusal::NamespaceTooLong,
        });
    }
    for (i, op) in ops.iter().enumerate() {
        if let Op::Apdu { aid, capdu } = op {
            check_apdu(grant, aid, capdu).map_err(|reason| Violation {
                op: Some(i),
                reason,
            })?;
        }
    }
    Ok(())
}

/// Checks one raw APDU operation.
pub fn check_apdu(grant: &Grant<'_>, aid: &[u8], capdu: &[u8]) -> Result<(), Refusal> {
    // SELECT by DF name with a partial AID selects the first application whose AID starts
    // with it (ISO/IEC 7816-4 §11.2.2.2): a prefix of a protected AID is that AID.
    let reaches = |protected: &[u8]| protected.starts_with(aid) || aid.starts_with(protected);
    if reaches(&GP_ISD_AID) || grant.isd_aid.is_some_and(reaches) {
        return Err(Refusal::ApduToIsd);
    }
    if reaches(&idstore::AID) {
        return Err(Refusal::ApduToIdStore);
    }
    if !grant.allowed_aids.contains(&aid) {
        return Err(Refusal::AidNotAllowed);
    }
    let command = Command::parse(capdu).map_err(|_| Refusal::MalformedApdu)?;
    check_instruction(command.cla, command.ins)
}

/// Checks a command's class and instruction bytes.
pub fn check_instruction(cla: u8, ins: u8) -> Result<(), Refusal> {
    if ins == INS_SELECT {
        return Err(Refusal::Select);
    }
    if ins == INS_MANAGE_CHANNEL {
        return Err(Refusal::ManageChannel);
    }
    if cla & 0x80 != 0 && CARD_MANAGEMENT_INS.contains(&ins) {
        return Err(Refusal::CardManagement);
    }
    if logical_channel(cla) != 0 {
        return Err(Refusal::LogicalChannel);
    }
    Ok(())
}

/// The logical channel a class byte names (ISO/IEC 7816-4 §5.4.1; GlobalPlatform uses the
/// same coding in its proprietary classes, GPCS §11.1.4).
fn logical_channel(cla: u8) -> u8 {
    if cla & 0x40 == 0 {
        cla & 0x03
    } else {
        4 + (cla & 0x0F)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    const WALLET: [u8; 7] = [0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10];

    fn apdu(aid: &[u8], capdu: &[u8]) -> Op {
        Op::Apdu {
            aid: aid.to_vec(),
            capdu: capdu.to_vec(),
        }
    }

    fn check(ops: &[Op]) -> Result<(), Violation> {
        let allowed = [&WALLET[..]];
        let chip_isd = [0xA0, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00];
        check_command(&Grant::new("shop", &allowed).with_isd_aid(&chip_isd), ops)
    }

    fn reason(ops: &[Op]) -> Refusal {
        check(ops).unwrap_err().reason
    }

    #[test]
    fn idstore_ops_are_always_allowed() {
        let ops = vec![
            Op::Put {
                record: "name".into(),
                data: vec![1, 2, 3],
            },
            Op::Get {
                record: "name".into(),
            },
            Op::Add {
                counter: "points".into(),
                amount: 5,
            },
            Op::Keygen { key: "k".into() },
        ];
        assert_eq!(check(&ops), Ok(()));
    }

    #[test]
    fn allowed_applet_plain_commands_pass() {
        // READ BINARY, GET DATA (interindustry), a proprietary non-management INS.
        for capdu in [
            &[0x00, 0xB0, 0x00, 0x00, 0x10][..],
            &[0x00, 0xCA, 0x01, 0x01, 0x00],
            &[0x80, 0xCA, 0x9F, 0x7F, 0x00],
            &[0x80, 0x10, 0x00, 0x00],
        ] {
            assert_eq!(check(&[apdu(&WALLET, capdu)]), Ok(()), "{capdu:02X?}");
        }
    }

    #[test]
    fn protected_applets_are_refused_even_by_prefix() {
        assert_eq!(
            reason(&[apdu(&GP_ISD_AID, &[0x00, 0xB0, 0, 0])]),
            Refusal::ApduToIsd
        );
        assert_eq!(
            reason(&[apdu(&GP_ISD_AID[..5], &[0x00, 0xB0, 0, 0])]),
            Refusal::ApduToIsd
        );
        // The chip's own ISD AID.
        assert_eq!(
            reason(&[apdu(&[0xA0, 0x00, 0x00, 0x00, 0x03], &[0x00, 0xB0, 0, 0])]),
            Refusal::ApduToIsd
        );
        assert_eq!(
            reason(&[apdu(&idstore::AID, &[0x80, 0xD2, 0, 0])]),
            Refusal::ApduToIdStore
        );
        assert_eq!(
            reason(&[apdu(&idstore::AID[..6], &[0x80, 0xD2, 0, 0])]),
            Refusal::ApduToIdStore
        );
    }

    #[test]
    fn unlisted_applets_are_refused() {
        let other = [0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x11];
        assert_eq!(
            reason(&[apdu(&other, &[0x00, 0xB0, 0, 0])]),
            Refusal::AidNotAllowed
        );
        // A prefix of an allowed AID is not the allowed AID.
        assert_eq!(
            reason(&[apdu(&WALLET[..6], &[0x00, 0xB0, 0, 0])]),
            Refusal::AidNotAllowed
        );
    }

    #[test]
    fn card_management_in_every_proprietary_class() {
        for cla in [0x80, 0x84, 0x8C] {
            for ins in [
                0xE4, 0xE6, 0xE8, 0xD8, 0xF0, 0xF1, 0xE2, 0x50, 0x82, 0x78, 0x7A, 0x7C,
            ] {
                assert_eq!(
                    check_instruction(cla, ins),
                    Err(Refusal::CardManagement),
                    "{cla:02X} {ins:02X}"
                );
            }
        }
        // The same INS in the interindustry class is another command (ISO EXTERNAL
        // AUTHENTICATE 82, for instance) and is left to the applet.
        assert_eq!(check_instruction(0x00, 0x82), Ok(()));
        assert_eq!(
            reason(&[apdu(&WALLET, &[0x80, 0xE6, 0x0C, 0x00, 0x00])]),
            Refusal::CardManagement
        );
    }

    #[test]
    fn select_and_manage_channel_in_any_class() {
        for cla in [0x00, 0x80, 0x84, 0x0C] {
            assert_eq!(check_instruction(cla, 0xA4), Err(Refusal::Select));
            assert_eq!(check_instruction(cla, 0x70), Err(Refusal::ManageChannel));
        }
    }

    #[test]
    fn logical_channels_are_refused() {
        assert_eq!(check_instruction(0x01, 0xB0), Err(Refusal::LogicalChannel));
        assert_eq!(check_instruction(0x41, 0xB0), Err(Refusal::LogicalChannel));
        assert_eq!(check_instruction(0x81, 0xCA), Err(Refusal::LogicalChannel));
        assert_eq!(check_instruction(0x40, 0xB0), Err(Refusal::LogicalChannel));
    }

    #[test]
    fn malformed_apdu_and_reports_the_first_offending_op() {
        let ops = vec![
            Op::Get { record: "a".into() },
            apdu(&WALLET, &[0x00, 0xB0, 0x00, 0x00, 0x05, 0x01]),
            apdu(&WALLET, &[0x80, 0xE4, 0x00, 0x00]),
        ];
        assert_eq!(
            check(&ops),
            Err(Violation {
                op: Some(1),
                reason: Refusal::MalformedApdu
            })
        );
    }

    #[test]
    fn provider_id_must_fit_the_namespace() {
        let long: Vec<u8> = vec![b'p'; MAX_NAMESPACE_LEN + 1];
        let long = core::str::from_utf8(&long).unwrap();
        let violation = check_command(&Grant::new(long, &[]), &[]).unwrap_err();
        assert_eq!(violation.op, None);
        assert_eq!(violation.reason, Refusal::NamespaceTooLong);
        let fits: Vec<u8> = vec![b'p'; MAX_NAMESPACE_LEN];
        let fits = core::str::from_utf8(&fits).unwrap();
        assert_eq!(check_command(&Grant::new(fits, &[]), &[]), Ok(()));
    }

    #[test]
    fn codes_are_distinct() {
        let all = [
            Refusal::NamespaceTooLong,
            Refusal::ApduToIsd,
            Refusal::ApduToIdStore,
            Refusal::AidNotAllowed,
            Refusal::CardManagement,
            Refusal::Select,
            Refusal::ManageChannel,
            Refusal::LogicalChannel,
            Refusal::MalformedApdu,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.code(), b.code());
            }
        }
    }
}
