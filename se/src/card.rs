//! The virtual card: an issuer security domain with SCP03 and the ID-store applet, over
//! durable state.
//!
//! Command routing (GlobalPlatform Card Specification v2.3.1):
//! - SELECT by AID (§11.9) chooses the ISD or the ID-store applet and ends any secure channel
//!   session (Amendment D §5.6);
//! - INITIALIZE UPDATE and EXTERNAL AUTHENTICATE open an SCP03 session with the ISD's keys,
//!   whichever application is selected (an application uses its security domain's secure
//!   channel, §10.2);
//! - every other command is unwrapped by the session (C-MAC, C-DECRYPTION), executed by the
//!   selected application, and its response wrapped (R-MAC, R-ENCRYPTION).
//!
//! Every change of state (applet writes, the sequence counter) is saved before the response.

use kazashi_protocol::apdu::{Command, Response, StatusWord};
use kazashi_protocol::idstore::{self, Request};
use kazashi_protocol::scp03::{
    Aid, CardConfig, CardSession, SecurityLevel, SequenceCounter, StaticKeys,
};
use kazashi_protocol::tlv::{Tag, Tlv};

use crate::applet;
use crate::state::CardState;
#[cfg(feature = "fs")]
use crate::store::{Store, StoreError};
use crate::transport::{CardTransport, TransportError};
#[cfg(feature = "vpcd")]
use crate::vpcd::{VpcdCard, atr_with_history};

/// Which application is selected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selected {
    /// The issuer security domain (selected by default after reset, GP §11.9.2.1).
    Isd,
    /// The ID-store applet.
    IdStore,
}

/// A virtual secure element.
pub struct VirtualCard {
    state: CardState,
    #[cfg(feature = "fs")]
    store: Option<Store>,
    session: CardSession,
    selected: Selected,
    capacity: usize,
}

impl std::fmt::Debug for VirtualCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualCard")
            .field("chip", &self.state.profile.chip_id())
            .field("selected", &self.selected)
            .field("session", &self.session)
            .finish()
    }
}

impl VirtualCard {
    /// A card whose state lives only in memory.
    pub fn in_memory(state: CardState) -> Self {
        Self {
            state,
            #[cfg(feature = "fs")]
            store: None,
            session: CardSession::new(),
            selected: Selected::Isd,
            capacity: applet::DEFAULT_CAPACITY,
        }
    }

    /// The card saved in `store`.
    #[cfg(feature = "fs")]
    pub fn open(store: Store) -> Result<Self, StoreError> {
        let state = store.load()?;
        Ok(Self {
            store: Some(store),
            ..Self::in_memory(state)
        })
    }

    /// Sets the applet's storage capacity in bytes.
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The card's state.
    pub fn state(&self) -> &CardState {
        &self.state
    }

    /// Which application is selected.
    pub fn selected(&self) -> Selected {
        self.selected
    }

    /// The open session's security level, if any.
    pub fn security_level(&self) -> Option<SecurityLevel> {
        self.session.security_level()
    }

    /// The SCP03 configuration the profile describes.
    pub fn scp_config(&self) -> Result<CardConfig, StatusWord> {
        let profile = &self.state.profile;
        Ok(CardConfig {
            aid: Aid::new(&profile.isd_aid.0).map_err(|_| StatusWord::MemoryFailure)?,
            kvn: profile.kvn,
            key_diversification_data: profile
                .kdd
                .0
                .as_slice()
                .try_into()
                .map_err(|_| StatusWord::MemoryFailure)?,
            options: profile.scp_options(),
            minimum_level: SecurityLevel::CMac,
        })
    }

    fn static_keys(&self) -> Result<StaticKeys, StatusWord> {
        self.state
            .profile
            .static_keys()
            .map_err(|_| StatusWord::MemoryFailure)
    }

    /// Processes one command APDU and returns the response APDU.
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let response = match self.dispatch(apdu) {
            Ok(response) => response,
            Err(sw) => Response::status(sw),
        };
        response.to_bytes()
    }

    fn dispatch(&mut self, apdu: &[u8]) -> Result<Response, StatusWord> {
        let command = Command::parse(apdu).map_err(|e| StatusWord::from(&e))?;
        check_class(command.cla)?;
        if command.cla == 0x00 && command.ins == 0xA4 {
            return self.select(&command);
        }
        if CardSession::is_initialize_update(&command) {
            return self.initialize_update(&command);
        }
        if CardSession::is_external_authenticate(&command) {
            return self
                .session
                .external_authenticate(apdu)
                .map_err(|e| StatusWord::from(&e));
        }
        let plain = self
            .session
            .unwrap_command(apdu)
            .map_err(|e| StatusWord::from(&e))?;
        let response = match self.selected {
            Selected::Isd => self.isd(&plain),
            Selected::IdStore => self.id_store(&plain),
        }
        .unwrap_or_else(Response::status);
        Ok(self.session.wrap_response(response))
    }

    fn select(&mut self, command: &Command) -> Result<Response, StatusWord> {
        // GP §5.6 of Amendment D: selection ends the secure channel session.
        self.session.close();
        // ISO/IEC 7816-4 §11.2.2: P1 04 select by DF name; P2 00 (FCI) or 0C (no data).
        if command.p1 != 0x04 || !matches!(command.p2, 0x00 | 0x0C) {
            return Err(StatusWord::IncorrectP1P2);
        }
        let isd_aid = &self.state.profile.isd_aid.0;
        let (selected, fci) = if command.data.is_empty() || command.data == *isd_aid {
            (Selected::Isd, fci(isd_aid, true))
        } else if command.data == idstore::AID {
            (Selected::IdStore, fci(&idstore::AID, false))
        } else {
            return Err(StatusWord::FileNotFound);
        };
        self.selected = selected;
        if command.p2 == 0x0C {
            Ok(Response::status(StatusWord::Ok))
        } else {
            Ok(Response::new(fci, StatusWord::Ok))
        }
    }

    fn initialize_update(&mut self, command: &Command) -> Result<Response, StatusWord> {
        let config = self.scp_config()?;
        let keys = self.static_keys()?;
        // The profile keeps the value the next INITIALIZE UPDATE reports; the session takes
        // the last one used and increments it.
        let next = self.state.profile.sequence_counter;
        let last = SequenceCounter::new(next.saturating_sub(1)).ok_or(StatusWord::MemoryFailure)?;
        let answer = self
            .session
            .initialize_update(&config, &keys, last, &mut rand_core::OsRng, command)
            .map_err(|e| StatusWord::from(&e))?;
        if let Some(used) = answer.new_counter {
            let mut state = self.state.clone();
            state.profile.sequence_counter = used.value() + 1;
            if let Err(sw) = self.commit(state) {
                // A challenge that was not recorded must not be used (it could repeat).
                self.session.close();
                return Err(sw);
            }
        }
        Ok(answer.response)
    }

    /// Replaces the card's state (personalization and objects), as after a power cycle:
    /// any session ends and the ISD is selected. With a store, the new state is saved first.
    pub fn replace_state(&mut self, state: CardState) -> Result<(), StatusWord> {
        self.commit(state)?;
        self.session.close();
        self.selected = Selected::Isd;
        Ok(())
    }

    /// Saves `state` and makes it current; on failure nothing changes (`6581`).
    fn commit(&mut self, state: CardState) -> Result<(), StatusWord> {
        #[cfg(feature = "fs")]
        if let Some(store) = &self.store {
            store.save(&state).map_err(|e| {
                eprintln!("kazashi-se: could not save the card's state: {e}");
                StatusWord::MemoryFailure
            })?;
        }
        self.state = state;
        Ok(())
    }

    fn isd(&mut self, command: &Command) -> Result<Response, StatusWord> {
        match (command.cla, command.ins) {
            (0x00 | 0x80, 0xCA) => self.get_data(command),
            (0x80, 0xF2) => self.get_status(command),
            (0x00 | 0x80, _) => Err(StatusWord::InsNotSupported),
            _ => Err(StatusWord::ClaNotSupported),
        }
    }

    /// GET DATA (GP §11.3): public identification data, also outside a secure channel.
    fn get_data(&self, command: &Command) -> Result<Response, StatusWord> {
        if !command.data.is_empty() {
            return Err(StatusWord::WrongLength);
        }
        let profile = &self.state.profile;
        let tlv = match (command.p1, command.p2) {
            (0x00, 0x66) => card_recognition_data(profile.s16, self.scp_config()?.options.to_i()),
            (0x00, 0xE0) => key_information(profile.kvn, profile.keys.len()),
            (0x9F, 0x7F) => Tlv::primitive(Tag::from_u16(0x9F7F), cplc(&profile.ic_serial.0)),
            (0x00, 0x45) => Tlv::primitive(Tag::from_u8(0x45), profile.cin.0.clone()),
            _ => return Err(StatusWord::ReferencedDataNotFound),
        };
        Ok(Response::new(tlv.to_bytes(), StatusWord::Ok))
    }

    /// GET STATUS (GP §11.4) in the TLV format (P2 `02`); needs a secure channel.
    fn get_status(&self, command: &Command) -> Result<Response, StatusWord> {
        if self.session.security_level().is_none() {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        if command.p2 != 0x02 {
            return Err(StatusWord::IncorrectP1P2);
        }
        // Search criteria: `4F 00` (every AID) only.
        if command.data != [0x4F, 0x00] {
            return Err(StatusWord::IncorrectData);
        }
        let entry = |aid: &[u8], lifecycle: u8, privileges: &[u8]| {
            Tlv::constructed(
                Tag::from_u8(0xE3),
                vec![
                    Tlv::primitive(Tag::from_u8(0x4F), aid.to_vec()),
                    Tlv::primitive(Tag::from_u16(0x9F70), vec![lifecycle]),
                    Tlv::primitive(Tag::from_u8(0xC5), privileges.to_vec()),
                ],
            )
            .to_bytes()
        };
        let data = match command.p1 {
            // The ISD: lifecycle SECURED (0F); Security Domain, Card Lock/Terminate, Card
            // Reset, CVM Management, Trusted Path, Authorized Management, Global Registry…
            0x80 => entry(&self.state.profile.isd_aid.0, 0x0F, &[0x9E, 0xFE, 0x80]),
            // Applications: the ID-store applet, SELECTABLE (07), no privileges.
            0x40 => entry(&idstore::AID, 0x07, &[0x00, 0x00, 0x00]),
            // Executable load files and modules: none visible.
            0x20 | 0x10 => return Err(StatusWord::ReferencedDataNotFound),
            _ => return Err(StatusWord::IncorrectP1P2),
        };
        Ok(Response::new(data, StatusWord::Ok))
    }

    fn id_store(&mut self, command: &Command) -> Result<Response, StatusWord> {
        let request = Request::parse(command)?;
        // docs/applet.md: everything but public-key reads needs a secure channel.
        if self.session.security_level().is_none() && !request.allowed_without_secure_channel() {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        if !request.is_write() {
            let mut objects = self.state.objects.clone();
            let reply =
                applet::execute(&mut objects, &request, self.capacity, &mut rand_core::OsRng)?;
            return Ok(reply.to_response());
        }
        let mut next = self.state.clone();
        let reply = applet::execute(
            &mut next.objects,
            &request,
            self.capacity,
            &mut rand_core::OsRng,
        )?;
        self.commit(next)?;
        Ok(reply.to_response())
    }
}

/// ISO/IEC 7816-4 §5.4.1: the interindustry and proprietary classes we accept, on the basic
/// logical channel only.
fn check_class(cla: u8) -> Result<(), StatusWord> {
    match cla {
        // `04`: an interindustry command (GET DATA, GP §11.3.1) under SCP03 secure messaging,
        // as yubikit's `SecurityDomainSession.get_data` sends it.
        0x00 | 0x04 | 0x80 | 0x84 => Ok(()),
        0x01..=0x03 | 0x81..=0x83 | 0x85..=0x87 | 0x40..=0x4F | 0xC0..=0xCF | 0xE0..=0xEF => {
            Err(StatusWord::LogicalChannelNotSupported)
        }
        _ => Err(StatusWord::ClaNotSupported),
    }
}

/// The FCI of a SELECT answer (GP §11.9.3.1): `6F { 84 AID, A5 { … } }`.
fn fci(aid: &[u8], security_domain: bool) -> Vec<u8> {
    let mut proprietary = Vec::new();
    if security_domain {
        // Maximum length of data field in command message: 255.
        proprietary.push(Tlv::primitive(Tag::from_u16(0x9F65), vec![0xFF]));
    }
    Tlv::constructed(
        Tag::from_u8(0x6F),
        vec![
            Tlv::primitive(Tag::from_u8(0x84), aid.to_vec()),
            Tlv::constructed(Tag::from_u8(0xA5), proprietary),
        ],
    )
    .to_bytes()
}

/// Card recognition data (GP §H.2): GP 2.3.1, SCP03 with our "i".
fn card_recognition_data(_s16: bool, i: u8) -> Tlv {
    let oid = |tag: u8, value: &[u8]| {
        Tlv::constructed(
            Tag::from_u8(tag),
            vec![Tlv::primitive(Tag::from_u8(0x06), value.to_vec())],
        )
    };
    // 1.2.840.114283 is GlobalPlatform's OID arc: 2A864886FC6B.
    let gp = [0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B];
    let with = |tail: &[u8]| [&gp[..], tail].concat();
    Tlv::constructed(
        Tag::from_u8(0x66),
        vec![Tlv::constructed(
            Tag::from_u8(0x73),
            vec![
                Tlv::primitive(Tag::from_u8(0x06), with(&[0x01])),
                oid(0x60, &with(&[0x02, 0x02, 0x03, 0x01])),
                oid(0x63, &with(&[0x03])),
                oid(0x64, &with(&[0x04, 0x03, i])),
            ],
        )],
    )
}

/// Key information template (GP §11.3.3.1): three AES keys, ids 1-3, of the key set's length.
fn key_information(kvn: u8, len: usize) -> Tlv {
    let key = |id: u8| Tlv::primitive(Tag::from_u8(0xC0), vec![id, kvn, 0x88, len as u8]);
    Tlv::constructed(Tag::from_u8(0xE0), vec![key(1), key(2), key(3)])
}

/// Card production life cycle data (42 bytes); only the IC serial number is meaningful here.
fn cplc(ic_serial: &[u8]) -> Vec<u8> {
    let mut cplc = vec![0; 42];
    // IC fabricator, IC type: "kz" and 0001; operating system: kazashi-se 0001.
    cplc[..4].copy_from_slice(&[0x6B, 0x7A, 0x00, 0x01]);
    cplc[4..8].copy_from_slice(&[0x6B, 0x7A, 0x00, 0x01]);
    // IC serial number at offset 15 (GP §H.6).
    cplc[15..19].copy_from_slice(ic_serial);
    cplc
}

impl CardTransport for VirtualCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self.process(apdu))
    }
}

#[cfg(feature = "vpcd")]
impl VpcdCard for VirtualCard {
    fn atr(&self) -> Vec<u8> {
        atr_with_history(b"kazashi\x01")
    }

    fn reset(&mut self) {
        self.session.close();
        self.selected = Selected::Isd;
    }

    fn power_off(&mut self) {
        self.reset();
    }

    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.process(apdu)
    }
}
