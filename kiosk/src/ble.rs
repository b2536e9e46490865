//! `kazashi-kiosk read --ble`: 18013-5 BLE data retrieval, the kiosk as GATT central and the
//! phone in mdoc peripheral server mode (it advertises the service UUID of its engagement).
//!
//! The framing and the State rules are `kazashi_protocol::offline::ble`'s. Here:
//! [`BleSession`] turns a [`GattLink`] (write a characteristic, wait for the next
//! notification) into whole session messages, and [`BtleplugLink`] is the GATT link through
//! `btleplug` (BlueZ over D-Bus on Linux). btleplug is async: the BLE path runs on a tokio
//! current-thread runtime of its own ([`SyncLink`]), so the session code above it
//! (`read::session`) stays the same synchronous code NFC uses.

// Without the `ble` feature only the tests drive the session code.
#![cfg_attr(not(feature = "ble"), allow(dead_code))]

use std::time::Duration;

use kazashi_protocol::offline::OfflineError;
use kazashi_protocol::offline::ble::{self, BleCentral, CentralEvent, Characteristic};

use crate::error::KioskError;
use crate::read::SessionLink;

/// A GATT connection to the phone's service, as the session needs it.
#[allow(async_fn_in_trait, reason = "crate-private, used with generics only")]
pub(crate) trait GattLink {
    /// Writes `value` to a characteristic (State and Client2Server: write without response).
    async fn write(
        &mut self,
        characteristic: Characteristic,
        value: &[u8],
    ) -> Result<(), KioskError>;
    /// The next notification (State or Server2Client); `None` when the phone disconnected.
    async fn next_notification(&mut self) -> Option<(Characteristic, Vec<u8>)>;
    /// Disconnects, best effort.
    async fn close(&mut self);
}

/// Whole session messages over a GATT link.
pub(crate) struct BleSession<L: GattLink> {
    link: L,
    central: BleCentral,
    /// How long the phone may take to answer a message.
    timeout: Duration,
    /// Characteristic values written and notified.
    values: usize,
}

impl<L: GattLink> BleSession<L> {
    /// Writes State start (`01`): the phone may now take requests.
    pub(crate) async fn start(link: L, mtu: u16, timeout: Duration) -> Result<Self, KioskError> {
        // btleplug does not report the negotiated MTU: write for `mtu`, accept whatever the
        // phone notifies up to the longest attribute value.
        let central = BleCentral::new(mtu).accept_chunks_up_to(ble::MAX_CHARACTERISTIC_LEN);
        let mut session = Self {
            link,
            central,
            timeout,
            values: 0,
        };
        let start = session.central.start().map_err(KioskError::Session)?;
        session.write(Characteristic::State, &start).await?;
        Ok(session)
    }

    async fn write(
        &mut self,
        characteristic: Characteristic,
        value: &[u8],
    ) -> Result<(), KioskError> {
        self.values += 1;
        self.link.write(characteristic, value).await
    }

    /// Sends one message, in chunks to Client2Server, and reassembles the phone's answer
    /// from Server2Client notifications.
    pub(crate) async fn exchange(&mut self, message: &[u8]) -> Result<Vec<u8>, KioskError> {
        for chunk in self.central.send(message).map_err(KioskError::Session)? {
            self.write(Characteristic::Client2Server, &chunk).await?;
        }
        loop {
            let notification = tokio::time::timeout(self.timeout, self.link.next_notification())
                .await
                .map_err(|_| {
                    KioskError::Disconnected(format!(
                        "no answer from the phone within {} s",
                        self.timeout.as_secs()
                    ))
                })?;
            let Some((characteristic, value)) = notification else {
                return Err(KioskError::Disconnected("the phone disconnected".into()));
            };
            self.values += 1;
            match self.central.on_notification(characteristic, &value) {
                Ok(CentralEvent::Partial) => {}
                Ok(CentralEvent::Message(reply)) => return Ok(reply),
                // State end between messages: the phone ended the session (§9.1.1.4).
                Ok(CentralEvent::Ended) => {
                    return Err(KioskError::Session(OfflineError::SessionTerminated));
                }
                // State end in the middle of the answer: the transfer was cut.
                Err(OfflineError::BleTransferCut) => {
                    return Err(KioskError::Disconnected(
                        "the phone ended the session in the middle of its answer".into(),
                    ));
                }
                Err(error) => return Err(KioskError::Session(error)),
            }
        }
    }

    /// Sends a last message if the link is still up, without waiting for an answer.
    pub(crate) async fn send_last(&mut self, message: &[u8]) {
        if let Ok(chunks) = self.central.send(message) {
            for chunk in chunks {
                if self
                    .write(Characteristic::Client2Server, &chunk)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }

    /// Writes State end (`02`) unless the session already ended that way, and disconnects.
    pub(crate) async fn close(&mut self) {
        if !self.central.is_ended() {
            let end = self.central.end();
            let _ = self.write(Characteristic::State, &end).await;
        }
        self.link.close().await;
    }

    /// Characteristic values exchanged so far.
    pub(crate) fn values(&self) -> usize {
        self.values
    }
}

/// A [`BleSession`] driven from synchronous code, on its own runtime.
pub(crate) struct SyncLink<'a, L: GattLink> {
    pub(crate) runtime: &'a tokio::runtime::Runtime,
    pub(crate) session: BleSession<L>,
}

impl<L: GattLink> SessionLink for SyncLink<'_, L> {
    fn exchange(&mut self, message: &[u8]) -> Result<Option<Vec<u8>>, KioskError> {
        self.runtime
            .block_on(self.session.exchange(message))
            .map(Some)
    }

    fn end(&mut self, message: &[u8]) {
        self.runtime.block_on(self.session.send_last(message));
    }

    fn count(&self) -> (usize, &'static str) {
        (self.session.values(), "BLE values")
    }
}

/// A current-thread runtime for the BLE path.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, KioskError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .enable_io()
        .build()
        .map_err(|e| KioskError::NoPhone(format!("cannot start the BLE runtime: {e}")))
}

/// `read --ble`: the engagement from the QR text, then scan, connect and run the session.
/// `mtu` sizes the kiosk's writes (btleplug cannot tell the negotiated MTU); `timeout` bounds
/// finding the phone and each of its answers.
#[cfg(feature = "ble")]
pub(crate) fn read(
    options: &crate::read::ReadOptions,
    mtu: u16,
    timeout: Duration,
    progress: &mut dyn FnMut(&str),
) -> Result<crate::read::ReadResult, KioskError> {
    use kazashi_protocol::offline::{DeviceEngagement, Handover};

    let qr = options.engagement.as_deref().ok_or_else(|| {
        KioskError::Usage("--ble needs the phone's QR text: --engagement mdoc:…".into())
    })?;
    progress("Engagement from the QR code");
    let engagement = DeviceEngagement::from_qr(qr).map_err(KioskError::Engagement)?;
    let service = ble::peripheral_server_uuid(&engagement).map_err(KioskError::Engagement)?;
    let runtime = runtime()?;
    // btleplug's streams must be dropped inside the runtime's context (bluez-async panics
    // otherwise, found by `tests/ble_bluez.rs`): declared after the runtime, the guard
    // outlives everything below.
    let _context = runtime.enter();
    let link = runtime.block_on(adapter::connect(service, timeout, progress))?;
    progress("Connected; opening the session");
    let session = runtime.block_on(BleSession::start(link, mtu, timeout))?;
    let mut sync = SyncLink {
        runtime: &runtime,
        session,
    };
    let result = crate::read::session(
        &mut sync,
        &engagement,
        &Handover::Qr,
        "qr",
        options,
        progress,
    );
    runtime.block_on(sync.session.close());
    result
}

/// Without the `ble` feature: a usage error.
#[cfg(not(feature = "ble"))]
pub(crate) fn read(
    _options: &crate::read::ReadOptions,
    _mtu: u16,
    _timeout: Duration,
    _progress: &mut dyn FnMut(&str),
) -> Result<crate::read::ReadResult, KioskError> {
    Err(KioskError::Usage(
        "this kazashi-kiosk was built without BLE (feature `ble`)".into(),
    ))
}

#[cfg(feature = "ble")]
mod adapter {
    use std::pin::Pin;
    use std::time::{Duration, Instant};

    use btleplug::api::{
        Central, CentralEvent, Characteristic as GattCharacteristic, Manager as _, Peripheral as _,
        ScanFilter, ValueNotification, WriteType,
    };
    use btleplug::platform::{Adapter, Manager, Peripheral};
    use futures_util::{Stream, StreamExt};
    use kazashi_protocol::offline::OfflineError;
    use kazashi_protocol::offline::ble::{self, Characteristic};
    use uuid::Uuid;

    use super::GattLink;
    use crate::error::KioskError;

    type Notifications = Pin<Box<dyn Stream<Item = ValueNotification> + Send>>;

    /// The phone's GATT service through btleplug.
    pub(crate) struct BtleplugLink {
        peripheral: Peripheral,
        state: GattCharacteristic,
        client2server: GattCharacteristic,
        notifications: Notifications,
    }

    fn unavailable(what: &str, error: impl std::fmt::Display) -> KioskError {
        KioskError::NoPhone(format!(
            "Bluetooth is not available ({what}: {error}); is there a Bluetooth controller, and \
             is bluetoothd running on the system D-Bus?"
        ))
    }

    async fn adapter() -> Result<Adapter, KioskError> {
        let manager = Manager::new()
            .await
            .map_err(|e| unavailable("no D-Bus connection", e))?;
        manager
            .adapters()
            .await
            .map_err(|e| unavailable("cannot list adapters", e))?
            .into_iter()
            .next()
            .ok_or_else(|| {
                KioskError::NoPhone("no Bluetooth adapter (controller) on this machine".into())
            })
    }

    /// Finds the adapter, scans for a phone advertising `service`, connects, discovers the
    /// three characteristics and subscribes to State and Server2Client. Everything that
    /// fails before the phone is connected is "no reader or no phone" (exit 4).
    pub(crate) async fn connect(
        service: [u8; 16],
        timeout: Duration,
        progress: &mut dyn FnMut(&str),
    ) -> Result<BtleplugLink, KioskError> {
        let deadline = Instant::now() + timeout;
        let adapter = tokio::time::timeout(timeout, adapter())
            .await
            .map_err(|_| unavailable("D-Bus", "no answer"))??;
        let service = Uuid::from_bytes(service);
        let mut events = adapter
            .events()
            .await
            .map_err(|e| unavailable("adapter events", e))?;
        adapter
            .start_scan(ScanFilter {
                services: vec![service],
            })
            .await
            .map_err(|e| unavailable("cannot scan", e))?;
        progress(&format!("Scanning for the phone's BLE service {service}…"));
        let found = tokio::time::timeout_at(deadline.into(), async {
            while let Some(event) = events.next().await {
                let id = match event {
                    CentralEvent::DeviceDiscovered(id)
                    | CentralEvent::DeviceUpdated(id)
                    | CentralEvent::ServicesAdvertisement { id, .. } => id,
                    _ => continue,
                };
                let Ok(peripheral) = adapter.peripheral(&id).await else {
                    continue;
                };
                let advertised = peripheral
                    .properties()
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|p| p.services.contains(&service));
                if advertised {
                    return Some(peripheral);
                }
            }
            None
        })
        .await;
        let _ = adapter.stop_scan().await;
        let peripheral = match found {
            Ok(Some(peripheral)) => peripheral,
            Ok(None) => return Err(unavailable("scan", "the adapter stopped reporting")),
            Err(_) => {
                return Err(KioskError::NoPhone(format!(
                    "no phone advertising {service} within {} s",
                    timeout.as_secs()
                )));
            }
        };
        progress("Phone found; connecting");
        let remaining = deadline.saturating_duration_since(Instant::now());
        tokio::time::timeout(remaining, async {
            peripheral.connect().await?;
            peripheral.discover_services().await
        })
        .await
        .map_err(|_| KioskError::NoPhone("the phone did not accept the connection".into()))?
        .map_err(|e| KioskError::NoPhone(format!("cannot connect to the phone: {e}")))?;
        // A service without them is not an 18013-5 one (exit 7, `missing_field`).
        let find = |uuid: [u8; 16], name: &'static str| {
            let uuid = Uuid::from_bytes(uuid);
            peripheral
                .characteristics()
                .into_iter()
                .find(|c| c.uuid == uuid && c.service_uuid == service)
                .ok_or(KioskError::Session(OfflineError::MissingField(name)))
        };
        let state = find(ble::STATE_UUID, "State characteristic")?;
        let client2server = find(ble::CLIENT2SERVER_UUID, "Client2Server characteristic")?;
        let server2client = find(ble::SERVER2CLIENT_UUID, "Server2Client characteristic")?;
        let notifications = peripheral
            .notifications()
            .await
            .map_err(|e| KioskError::Disconnected(format!("notifications: {e}")))?;
        for characteristic in [&state, &server2client] {
            peripheral
                .subscribe(characteristic)
                .await
                .map_err(|e| KioskError::Disconnected(format!("subscribe: {e}")))?;
        }
        Ok(BtleplugLink {
            peripheral,
            state,
            client2server,
            notifications,
        })
    }

    impl GattLink for BtleplugLink {
        async fn write(
            &mut self,
            characteristic: Characteristic,
            value: &[u8],
        ) -> Result<(), KioskError> {
            let target = match characteristic {
                Characteristic::State => &self.state,
                Characteristic::Client2Server => &self.client2server,
                Characteristic::Server2Client => {
                    return Err(KioskError::Session(OfflineError::UnexpectedMessage));
                }
            };
            self.peripheral
                .write(target, value, WriteType::WithoutResponse)
                .await
                .map_err(|e| KioskError::Disconnected(format!("BLE write: {e}")))
        }

        async fn next_notification(&mut self) -> Option<(Characteristic, Vec<u8>)> {
            while let Some(notification) = self.notifications.next().await {
                if let Some(characteristic) =
                    Characteristic::from_uuid(notification.uuid.as_bytes())
                {
                    return Some((characteristic, notification.value));
                }
            }
            None
        }

        async fn close(&mut self) {
            let _ = self.peripheral.disconnect().await;
        }
    }
}

#[cfg(test)]
mod tests {
    //! The kiosk's BLE session code over an in-memory GATT link, with the protocol's GATT
    //! server and holder on the other side: everything of `read --ble` but the radio.

    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use kazashi_protocol::offline::ble::{BlePeripheral, PeripheralEvent};
    use kazashi_protocol::offline::engagement::BleOptions;
    use kazashi_protocol::offline::present::DocumentBuilder;
    use kazashi_protocol::offline::{
        DeviceResponse, Handover, Holder, HolderEvent, IssuerSigned, RetrievalMethod,
    };
    use p256::SecretKey;
    use p256::ecdsa::SigningKey;
    use rand_core::OsRng;

    use super::*;
    use crate::files::{self, PhoneStateFile};
    use crate::read::{self, ReadOptions};

    const SERVICE: [u8; 16] = [7; 16];
    const MDL: &str = "org.iso.18013.5.1.mDL";
    const NS: &str = "org.iso.18013.5.1";

    /// Every write the kiosk made, in order.
    type Writes = Vec<(Characteristic, Vec<u8>)>;
    type Log = Arc<Mutex<Writes>>;

    /// What the phone does, for the failure cases.
    #[derive(Clone, Copy, PartialEq)]
    enum Behaviour {
        Honest,
        /// Ends with State 0x02 after the first chunk of its answer.
        CutsTheAnswer,
        /// Never answers.
        Silent,
        /// Disconnects instead of answering.
        Leaves,
    }

    /// The phone: the protocol's GATT server and holder, run on each write.
    struct Phone {
        holder: Holder,
        server: BlePeripheral,
        stored: IssuerSigned,
        device_key: SecretKey,
        behaviour: Behaviour,
        /// Every write, for the assertions.
        log: Log,
    }

    struct MemoryLink {
        phone: Phone,
        notifications: VecDeque<(Characteristic, Vec<u8>)>,
        mtu: u16,
        closed: bool,
    }

    impl GattLink for MemoryLink {
        async fn write(
            &mut self,
            characteristic: Characteristic,
            value: &[u8],
        ) -> Result<(), KioskError> {
            assert!(value.len() <= ble::characteristic_len(self.mtu));
            let phone = &mut self.phone;
            phone
                .log
                .lock()
                .unwrap()
                .push((characteristic, value.to_vec()));
            let event = phone.server.on_write(characteristic, value).unwrap();
            if let PeripheralEvent::Message(message) = event {
                let reply = match phone.holder.handle_message(&message).unwrap() {
                    HolderEvent::Request(request) => {
                        let transcript = phone.holder.transcript().unwrap();
                        let docs = request
                            .doc_requests
                            .iter()
                            .map(|d| {
                                let selected = phone
                                    .stored
                                    .select(|ns, e| d.items_request().requests(ns, e));
                                DocumentBuilder::new(MDL, selected)
                                    .sign(transcript, &SigningKey::from(&phone.device_key))
                            })
                            .collect();
                        phone.holder.respond(&DeviceResponse::new(docs)).unwrap()
                    }
                    HolderEvent::Terminated => return Ok(()),
                };
                let chunks = phone.server.send(&reply).unwrap();
                match phone.behaviour {
                    Behaviour::Honest => self.notifications.extend(
                        chunks
                            .into_iter()
                            .map(|c| (Characteristic::Server2Client, c)),
                    ),
                    Behaviour::CutsTheAnswer => {
                        self.notifications
                            .push_back((Characteristic::Server2Client, chunks[0].clone()));
                        self.notifications
                            .push_back((Characteristic::State, phone.server.end().to_vec()));
                    }
                    Behaviour::Silent => {}
                    Behaviour::Leaves => self.closed = true,
                }
            }
            Ok(())
        }

        async fn next_notification(&mut self) -> Option<(Characteristic, Vec<u8>)> {
            match self.notifications.pop_front() {
                Some(n) => Some(n),
                None if self.closed => None,
                None => std::future::pending().await,
            }
        }

        async fn close(&mut self) {
            self.closed = true;
        }
    }

    struct Fixture {
        link: MemoryLink,
        options: ReadOptions,
        log: Log,
        engagement: kazashi_protocol::offline::DeviceEngagement,
        _dir: TempDir,
    }

    struct TempDir(std::path::PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A test PKI and a phone holding a test mDL (through the kiosk's own `pki` and
    /// `issue`), its engagement offering BLE peripheral server mode, and read options.
    fn fixture(mtu: u16, behaviour: Behaviour, portrait: usize) -> Fixture {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kazashi-kiosk-ble-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        files::make_pki(&dir, "JP").unwrap();
        let portrait_hex = format!("{NS}:portrait=hex:{}", "ab".repeat(portrait));
        files::Issue {
            state: &dir.join("phone.json"),
            issuer_cert: &dir.join("issuer.pem"),
            issuer_key: &dir.join("issuer.key"),
            doc_type: MDL,
            items: vec![
                format!("{NS}:family_name=Yamada"),
                format!("{NS}:age_over_18=true"),
                portrait_hex,
            ],
            valid_days: 30,
            chip: None,
        }
        .run()
        .unwrap();
        let state = files::PhoneState::load(&dir.join("phone.json")).unwrap();
        let (_, stored) = state.documents().unwrap().remove(0);
        let device_key = state.software_key().unwrap().unwrap();
        let holder = Holder::new(
            vec![RetrievalMethod::Ble(BleOptions::peripheral_server(SERVICE))],
            &mut OsRng,
        );
        let engagement = holder.engagement().clone();
        let log = Arc::new(Mutex::new(Vec::new()));
        let phone = Phone {
            holder,
            server: BlePeripheral::new(mtu),
            stored,
            device_key,
            behaviour,
            log: log.clone(),
        };
        let options = ReadOptions {
            engagement: Some(engagement.to_qr()),
            doc_type: MDL.into(),
            items: vec![
                (NS.into(), "family_name".into()),
                (NS.into(), "portrait".into()),
            ],
            trust: files::read_trust(&dir.join("issuer-root.pem")).unwrap(),
            reader_auth: None,
            extended: true,
            now: files::now(),
        };
        Fixture {
            link: MemoryLink {
                phone,
                notifications: VecDeque::new(),
                mtu,
                closed: false,
            },
            options,
            log,
            engagement,
            _dir: TempDir(dir),
        }
    }

    /// `read --ble` from the point where the GATT link is up.
    fn read_over(fixture: Fixture) -> (Result<read::ReadResult, KioskError>, Writes) {
        let runtime = runtime().unwrap();
        let Fixture {
            link,
            options,
            log,
            engagement,
            _dir,
        } = fixture;
        let result = runtime
            .block_on(BleSession::start(
                link,
                ble::DEFAULT_MTU,
                Duration::from_millis(300),
            ))
            .and_then(|session| {
                let mut sync = SyncLink {
                    runtime: &runtime,
                    session,
                };
                let result = read::session(
                    &mut sync,
                    &engagement,
                    &Handover::Qr,
                    "qr",
                    &options,
                    &mut |_| {},
                );
                runtime.block_on(sync.session.close());
                result
            });
        let writes = log.lock().unwrap().clone();
        (result, writes)
    }

    #[test]
    fn reads_a_document_over_an_in_memory_gatt_link() {
        for (mtu, portrait) in [(23, 10), (185, 10), (517, 20_000)] {
            let (result, writes) = read_over(fixture(mtu, Behaviour::Honest, portrait));
            let result = result.unwrap();
            let items = &result.document.items()[0].1;
            assert_eq!(items.len(), 2, "mtu {mtu}");
            assert_eq!(result.engagement, "qr");
            // State start first; then the request and the termination in Client2Server
            // chunks; State end last.
            assert_eq!(writes[0], (Characteristic::State, vec![ble::STATE_START]));
            assert_eq!(
                writes.last().unwrap(),
                &(Characteristic::State, vec![ble::STATE_END])
            );
            assert!(
                writes[1..writes.len() - 1]
                    .iter()
                    .all(|(c, v)| *c == Characteristic::Client2Server && v.len() <= 20)
            );
            assert_eq!(result.units.1, "BLE values");
            assert!(result.units.0 > writes.len());
        }
    }

    #[test]
    fn failures_on_the_link_map_to_their_exit_codes() {
        let (result, writes) = read_over(fixture(185, Behaviour::CutsTheAnswer, 2_000));
        let error = result.err().unwrap();
        assert_eq!(
            (error.exit_code(), error.code()),
            (5, "interrupted"),
            "{error}"
        );
        assert!(error.to_string().contains("middle of its answer"));
        // The phone already ended: no State end written after its own.
        assert_ne!(writes.last().unwrap().0, Characteristic::State);

        let (result, writes) = read_over(fixture(185, Behaviour::Silent, 10));
        let error = result.err().unwrap();
        assert_eq!(
            (error.exit_code(), error.code()),
            (5, "interrupted"),
            "{error}"
        );
        assert!(error.to_string().contains("no answer"));
        assert_eq!(
            writes.last().unwrap(),
            &(Characteristic::State, vec![ble::STATE_END])
        );

        let (result, _) = read_over(fixture(185, Behaviour::Leaves, 10));
        let error = result.err().unwrap();
        assert_eq!(error.exit_code(), 5, "{error}");
        assert!(error.to_string().contains("disconnected"));
    }

    #[test]
    fn a_phone_that_ends_before_answering_is_a_session_error() {
        let mut fixture = fixture(185, Behaviour::Honest, 10);
        fixture
            .link
            .notifications
            .push_back((Characteristic::State, vec![ble::STATE_END]));
        // The State end is read while the answer is due, before any chunk of it.
        fixture.link.phone.behaviour = Behaviour::Silent;
        let (result, _) = read_over(fixture);
        let error = result.err().unwrap();
        assert_eq!(
            (error.exit_code(), error.code()),
            (7, "session_terminated"),
            "{error}"
        );
    }
}
