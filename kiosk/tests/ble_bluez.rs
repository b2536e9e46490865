//! `kazashi-kiosk read --ble` through the real `btleplug` adapter and D-Bus, with no radio:
//! a fake BlueZ (`org.bluez` on a private D-Bus system bus, the parts of its D-Bus API that
//! btleplug uses: ObjectManager, Properties, Adapter1, Device1, GattService1,
//! GattCharacteristic1, introspection) whose GATT server is the protocol's `BlePeripheral`
//! with a `Holder` behind it. What it checks is our side: the adapter found, the scan filter,
//! connection, discovery of the three characteristics, subscriptions, State start, the
//! request in writes without response, the answer from notifications, State end,
//! disconnection; and the exits when BlueZ has no adapter or no phone advertises.
//!
//! What it cannot check: BlueZ itself, the radio, a real phone (docs/offline.md).

#![cfg(feature = "ble")]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::print_stdout,
    missing_docs,
    reason = "a test"
)]

#[path = "common/bus.rs"]
#[allow(dead_code, unreachable_pub)]
mod bus;

use std::collections::HashMap;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dbus::Message;
use dbus::Path;
use dbus::arg::{PropMap, RefArg, Variant};
use dbus::blocking::LocalConnection;
use dbus::channel::{Channel, MatchingReceiver, Sender};
use dbus::message::MatchRule;
use kazashi_protocol::offline::ble::{self, BlePeripheral, Characteristic, PeripheralEvent};
use kazashi_protocol::offline::engagement::BleOptions;
use kazashi_protocol::offline::present::DocumentBuilder;
use kazashi_protocol::offline::{
    DeviceResponse, Holder, HolderEvent, IssuerSigned, RetrievalMethod,
};
use p256::SecretKey;
use p256::ecdsa::SigningKey;
use rand_core::OsRng;

use bus::{Bus, Dir};

const KIOSK: &str = env!("CARGO_BIN_EXE_kazashi-kiosk");
const MDL: &str = "org.iso.18013.5.1.mDL";
const NS: &str = "org.iso.18013.5.1";
const SERVICE: [u8; 16] = [
    0x1b, 0x4f, 0x2c, 0x7e, 0x5a, 0x31, 0x4d, 0x62, 0x9e, 0x0c, 0x77, 0x21, 0x8a, 0x44, 0x10, 0x93,
];
const ADAPTER: &str = "/org/bluez/hci0";
const DEVICE: &str = "/org/bluez/hci0/dev_5A_11_22_33_44_55";
const GATT_SERVICE: &str = "/org/bluez/hci0/dev_5A_11_22_33_44_55/service0010";

fn uuid_text(uuid: [u8; 16]) -> String {
    let h = hex::encode(uuid);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn char_path(c: Characteristic) -> String {
    let n = match c {
        Characteristic::State => 0x11,
        Characteristic::Client2Server => 0x13,
        Characteristic::Server2Client => 0x15,
    };
    format!("{GATT_SERVICE}/char{n:04x}")
}

fn char_at(path: &str) -> Option<Characteristic> {
    [
        Characteristic::State,
        Characteristic::Client2Server,
        Characteristic::Server2Client,
    ]
    .into_iter()
    .find(|c| char_path(*c) == path)
}

/// The phone behind the fake BlueZ.
struct Phone {
    holder: Holder,
    server: BlePeripheral,
    stored: IssuerSigned,
    device_key: SecretKey,
}

/// What the fake saw, for the assertions.
#[derive(Default, Debug)]
struct Seen {
    calls: Vec<String>,
    writes: Vec<(Characteristic, Vec<u8>)>,
    discovery_uuids: Vec<String>,
}

type PropsFor = HashMap<String, PropMap>;

fn prop<T: RefArg + 'static>(value: T) -> Variant<Box<dyn RefArg>> {
    Variant(Box::new(value))
}

/// What the phone does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Honest,
    /// Its service has only the State characteristic.
    NoDataCharacteristics,
    /// Never answers the request.
    Silent,
    /// Notifies the first chunk of its answer, then State end.
    CutsTheAnswer,
}

struct Fake {
    behaviour: Behaviour,
    adapter: bool,
    phone: Option<Phone>,
    connected: bool,
    seen: Arc<Mutex<Seen>>,
}

impl Fake {
    fn adapter_props(&self) -> PropMap {
        let mut p = PropMap::new();
        p.insert("Address".into(), prop("00:1A:7D:DA:71:13".to_string()));
        p.insert("AddressType".into(), prop("public".to_string()));
        p.insert("Name".into(), prop("fake".to_string()));
        p.insert("Alias".into(), prop("fake".to_string()));
        p.insert("Modalias".into(), prop("usb:v1D6Bp0246d0542".to_string()));
        p.insert("Powered".into(), prop(true));
        p.insert("Discovering".into(), prop(false));
        p
    }

    fn device_props(&self) -> PropMap {
        let mut p = PropMap::new();
        p.insert("Address".into(), prop("5A:11:22:33:44:55".to_string()));
        p.insert("AddressType".into(), prop("random".to_string()));
        p.insert("Adapter".into(), prop(Path::from(ADAPTER)));
        p.insert("Paired".into(), prop(false));
        p.insert("Connected".into(), prop(self.connected));
        p.insert("ServicesResolved".into(), prop(self.connected));
        p.insert("Trusted".into(), prop(false));
        p.insert("Blocked".into(), prop(false));
        p.insert("LegacyPairing".into(), prop(false));
        p.insert("RSSI".into(), prop(-50i16));
        p.insert("UUIDs".into(), prop(vec![uuid_text(SERVICE)]));
        p
    }

    fn char_props(&self, c: Characteristic) -> PropMap {
        let flags: Vec<String> = match c {
            Characteristic::State => vec!["notify".into(), "write-without-response".into()],
            Characteristic::Client2Server => vec!["write-without-response".into()],
            Characteristic::Server2Client => vec!["notify".into()],
        };
        let mut p = PropMap::new();
        p.insert("UUID".into(), prop(uuid_text(c.uuid())));
        p.insert("Service".into(), prop(Path::from(GATT_SERVICE)));
        p.insert("Flags".into(), prop(flags));
        p
    }

    fn objects(&self) -> HashMap<Path<'static>, PropsFor> {
        let mut tree = HashMap::new();
        if self.adapter {
            let mut ifaces = PropsFor::new();
            ifaces.insert("org.bluez.Adapter1".into(), self.adapter_props());
            tree.insert(Path::from(ADAPTER), ifaces);
            if self.phone.is_some() {
                let mut ifaces = PropsFor::new();
                ifaces.insert("org.bluez.Device1".into(), self.device_props());
                tree.insert(Path::from(DEVICE), ifaces);
            }
        }
        tree
    }

    fn introspect(&self, path: &str) -> String {
        let children: Vec<String> = if path == DEVICE && self.connected {
            vec!["service0010".into()]
        } else if path == GATT_SERVICE && self.behaviour == Behaviour::NoDataCharacteristics {
            vec!["char0011".into()]
        } else if path == GATT_SERVICE {
            vec!["char0011".into(), "char0013".into(), "char0015".into()]
        } else {
            vec![]
        };
        let mut xml = String::from("<node>");
        for child in children {
            xml.push_str(&format!("<node name=\"{child}\"/>"));
        }
        xml.push_str("</node>");
        xml
    }

    /// Answers one method call; the signals to emit after the reply.
    fn handle(&mut self, msg: &Message) -> (Message, Vec<Message>) {
        let path = msg.path().map(|p| p.to_string()).unwrap_or_default();
        let iface = msg.interface().map(|i| i.to_string()).unwrap_or_default();
        let member = msg.member().map(|m| m.to_string()).unwrap_or_default();
        self.seen
            .lock()
            .unwrap()
            .calls
            .push(format!("{iface}.{member} {path}"));
        let ok = msg.method_return();
        let unknown = || {
            msg.error(
                &"org.freedesktop.DBus.Error.UnknownObject".into(),
                &std::ffi::CString::new(format!("no {path} {iface}.{member}")).unwrap(),
            )
        };
        let exists = path == "/"
            || (self.adapter && path == ADAPTER)
            || (self.adapter && self.phone.is_some() && path.starts_with(DEVICE));
        if !exists {
            return (unknown(), vec![]);
        }
        match (iface.as_str(), member.as_str()) {
            ("org.freedesktop.DBus.ObjectManager", "GetManagedObjects") => {
                (ok.append1(self.objects()), vec![])
            }
            ("org.freedesktop.DBus.Introspectable", "Introspect") => {
                (ok.append1(self.introspect(&path)), vec![])
            }
            ("org.freedesktop.DBus.Properties", "GetAll" | "Get") => {
                let (wanted, name): (String, Option<String>) = if member == "Get" {
                    let (i, n) = msg.read2::<String, String>().unwrap();
                    (i, Some(n))
                } else {
                    (msg.read1::<String>().unwrap(), None)
                };
                let props = match (wanted.as_str(), path.as_str()) {
                    ("org.bluez.Adapter1", ADAPTER) => self.adapter_props(),
                    ("org.bluez.Device1", DEVICE) => self.device_props(),
                    ("org.bluez.GattService1", GATT_SERVICE) => {
                        let mut p = PropMap::new();
                        p.insert("UUID".into(), prop(uuid_text(SERVICE)));
                        p.insert("Primary".into(), prop(true));
                        p
                    }
                    ("org.bluez.GattCharacteristic1", p) => match char_at(p) {
                        Some(c) => self.char_props(c),
                        None => return (unknown(), vec![]),
                    },
                    _ => return (unknown(), vec![]),
                };
                match name {
                    None => (ok.append1(props), vec![]),
                    Some(name) => match props.get(&name) {
                        Some(value) => (ok.append1(Variant(value.0.box_clone())), vec![]),
                        None => (unknown(), vec![]),
                    },
                }
            }
            ("org.freedesktop.DBus.Properties", "Set") => (ok, vec![]),
            ("org.bluez.Adapter1", "SetDiscoveryFilter") => {
                let filter: PropMap = msg.read1().unwrap();
                if let Some(uuids) = filter.get("UUIDs") {
                    let list = uuids
                        .0
                        .as_iter()
                        .unwrap()
                        .flat_map(|v| {
                            v.as_iter()
                                .map(|i| i.filter_map(|s| s.as_str().map(String::from)).collect())
                                .unwrap_or_else(|| {
                                    v.as_str().map(String::from).into_iter().collect::<Vec<_>>()
                                })
                        })
                        .collect();
                    self.seen.lock().unwrap().discovery_uuids = list;
                }
                (ok, vec![])
            }
            ("org.bluez.Adapter1", "StartDiscovery" | "StopDiscovery") => (ok, vec![]),
            ("org.bluez.Device1", "Connect") => {
                self.connected = true;
                (ok, vec![])
            }
            ("org.bluez.Device1", "Disconnect") => {
                self.connected = false;
                (ok, vec![])
            }
            ("org.bluez.GattCharacteristic1", "StartNotify" | "StopNotify") => (ok, vec![]),
            ("org.bluez.GattCharacteristic1", "WriteValue") => {
                let Some(c) = char_at(&path) else {
                    return (unknown(), vec![]);
                };
                let (value, options): (Vec<u8>, PropMap) = msg.read2().unwrap();
                assert_eq!(
                    options
                        .get("type")
                        .and_then(|t| t.0.as_str().map(String::from)),
                    Some("command".to_string()),
                    "writes without response"
                );
                self.seen.lock().unwrap().writes.push((c, value.clone()));
                let signals = self.phone_write(c, &value);
                (ok, signals)
            }
            _ => (unknown(), vec![]),
        }
    }

    /// The phone takes a write; its notifications as PropertiesChanged signals.
    fn phone_write(&mut self, c: Characteristic, value: &[u8]) -> Vec<Message> {
        let phone = self.phone.as_mut().unwrap();
        let Ok(PeripheralEvent::Message(message)) = phone.server.on_write(c, value) else {
            return vec![];
        };
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
            HolderEvent::Terminated => return vec![],
        };
        let notify = |c: Characteristic, value: Vec<u8>| {
            let mut changed = PropMap::new();
            changed.insert("Value".into(), prop(value));
            Message::signal(
                &char_path(c).into(),
                &"org.freedesktop.DBus.Properties".into(),
                &"PropertiesChanged".into(),
            )
            .append3(
                "org.bluez.GattCharacteristic1",
                changed,
                Vec::<String>::new(),
            )
        };
        let chunks = phone.server.send(&reply).unwrap();
        match self.behaviour {
            Behaviour::Silent => vec![],
            Behaviour::CutsTheAnswer => vec![
                notify(Characteristic::Server2Client, chunks[0].clone()),
                notify(Characteristic::State, phone.server.end().to_vec()),
            ],
            Behaviour::Honest | Behaviour::NoDataCharacteristics => chunks
                .into_iter()
                .map(|chunk| notify(Characteristic::Server2Client, chunk))
                .collect(),
        }
    }
}

/// Runs the fake BlueZ on `address` until `stop`.
fn serve(address: String, fake: Fake, stop: Arc<AtomicBool>, ready: std::sync::mpsc::Sender<()>) {
    let mut channel = Channel::open_private(&address).unwrap();
    channel.register().unwrap();
    let conn = LocalConnection::from(channel);
    conn.request_name("org.bluez", false, true, false).unwrap();
    let fake = std::cell::RefCell::new(fake);
    conn.start_receive(
        MatchRule::new_method_call(),
        Box::new(move |msg, conn| {
            let (reply, signals) = fake.borrow_mut().handle(&msg);
            let _ = conn.send(reply);
            for signal in signals {
                let _ = conn.send(signal);
            }
            true
        }),
    );
    ready.send(()).unwrap();
    while !stop.load(Ordering::Relaxed) {
        conn.process(Duration::from_millis(50)).unwrap();
    }
}

struct Setup {
    dir: Dir,
    bus: Bus,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    seen: Arc<Mutex<Seen>>,
    qr: String,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn kiosk(args: &[&str]) -> Output {
    Command::new(KIOSK).args(args).output().unwrap()
}

fn setup(name: &str, adapter: bool, phone: bool) -> Setup {
    setup_with(name, adapter, phone, Behaviour::Honest)
}

fn setup_with(name: &str, adapter: bool, phone: bool, behaviour: Behaviour) -> Setup {
    let dir =
        Dir(std::env::temp_dir().join(format!("kazashi-bluez-{name}-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let d = dir.0.to_str().unwrap().to_string();
    assert!(kiosk(&["pki", "--out", &d]).status.success());
    let state = format!("{d}/phone.json");
    let out = kiosk(&[
        "issue",
        "--state",
        &state,
        "--issuer-cert",
        &format!("{d}/issuer.pem"),
        "--issuer-key",
        &format!("{d}/issuer.key"),
        "--doctype",
        MDL,
        "--item",
        &format!("{NS}:family_name=Yamada"),
        "--item",
        &format!("{NS}:portrait=hex:{}", "5a".repeat(3000)),
    ]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let device_key = SecretKey::from_slice(
        &hex::decode(json["device_key"]["software"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let stored = IssuerSigned::parse(
        &hex::decode(json["documents"][0]["issuer_signed"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let holder = Holder::new(
        vec![RetrievalMethod::Ble(BleOptions::peripheral_server(SERVICE))],
        &mut OsRng,
    );
    let qr = holder.engagement().to_qr();
    let bus = Bus::start(&dir);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let fake = Fake {
        behaviour,
        adapter,
        phone: phone.then(|| Phone {
            holder,
            server: BlePeripheral::new(185),
            stored,
            device_key,
        }),
        connected: false,
        seen: seen.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (ready, started) = std::sync::mpsc::channel();
    let thread = {
        let address = bus.address.clone();
        let stop = stop.clone();
        std::thread::spawn(move || serve(address, fake, stop, ready))
    };
    started.recv_timeout(Duration::from_secs(10)).unwrap();
    Setup {
        dir,
        bus,
        stop,
        thread: Some(thread),
        seen,
        qr,
    }
}

fn read(setup: &Setup, timeout: &str) -> Output {
    let d = setup.dir.0.to_str().unwrap();
    Command::new(KIOSK)
        .args([
            "read",
            "--ble",
            "--engagement",
            &setup.qr,
            "--doctype",
            MDL,
            "--items",
            &format!("{NS}:family_name,{NS}:portrait"),
            "--issuer-trust",
            &format!("{d}/issuer-root.pem"),
            "--timeout",
            timeout,
        ])
        .env("DBUS_SYSTEM_BUS_ADDRESS", &setup.bus.address)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn reads_a_document_through_btleplug_and_a_fake_bluez() {
    let setup = setup("read", true, true);
    let out = read(&setup, "10");
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["doc_type"], MDL);
    assert_eq!(json["items"][NS]["family_name"], "Yamada");
    assert_eq!(json["engagement"], "qr");
    let seen = setup.seen.lock().unwrap();
    // The scan asked for the engagement's service.
    assert_eq!(seen.discovery_uuids, [uuid_text(SERVICE)]);
    // State start first, the request and the termination in Client2Server values of at
    // most 20 bytes (MTU 23), State end last; then the disconnection.
    let writes = &seen.writes;
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
    let calls = seen.calls.join("\n");
    for call in [
        "org.bluez.Device1.Connect",
        "org.bluez.GattCharacteristic1.StartNotify",
        "org.bluez.Device1.Disconnect",
    ] {
        assert!(calls.contains(call), "{call} not in\n{calls}");
    }
}

#[test]
fn bluez_without_an_adapter_exits_4() {
    let setup = setup("noadapter", false, false);
    let out = read(&setup, "3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("no Bluetooth adapter"), "{stderr}");
    assert!(stderr.contains("[no_phone]"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn no_phone_advertising_exits_4_after_the_timeout() {
    let setup = setup("nophone", true, false);
    let started = Instant::now();
    let out = read(&setup, "2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("no phone advertising"), "{stderr}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        setup.seen.lock().unwrap().discovery_uuids,
        [uuid_text(SERVICE)]
    );
}

#[test]
fn failures_after_connecting_map_to_their_exit_codes() {
    // A service without the Client2Server and Server2Client characteristics: not an
    // 18013-5 service (exit 7).
    let setup = setup_with("nochars", true, true, Behaviour::NoDataCharacteristics);
    let out = read(&setup, "5");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(stderr.contains("[missing_field]"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The phone never answers: exit 5 after the timeout, and the kiosk still ends the
    // session with State end.
    let setup = setup_with("silent", true, true, Behaviour::Silent);
    let out = read(&setup, "2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("no answer from the phone"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(
        setup.seen.lock().unwrap().writes.last().unwrap(),
        &(Characteristic::State, vec![ble::STATE_END])
    );

    // The phone ends the session in the middle of its answer: exit 5.
    let setup = setup_with("cut", true, true, Behaviour::CutsTheAnswer);
    let out = read(&setup, "5");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("middle of its answer"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
