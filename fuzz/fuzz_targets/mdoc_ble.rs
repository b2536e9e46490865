//! BLE framing never panics: the mdoc's GATT server takes any sequence of writes to its
//! characteristics, and the reader's central any sequence of notifications, each ending in
//! messages, the end, or an error; every message delivered is one CBOR item within the cap.
#![no_main]

use kazashi_protocol::offline::ble::{
    self, BleCentral, BlePeripheral, CentralEvent, Characteristic, PeripheralEvent,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Input: an MTU byte, then [characteristic: u8][len: u16 BE][bytes] frames.
    let Some((&mtu, mut rest)) = data.split_first() else {
        return;
    };
    let mtu = u16::from(mtu) * 3;
    let mut frames = Vec::new();
    while let [which, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let characteristic = match which % 3 {
            0 => Characteristic::State,
            1 => Characteristic::Client2Server,
            _ => Characteristic::Server2Client,
        };
        frames.push((characteristic, &tail[..len]));
        rest = &tail[len..];
    }

    let mut server = BlePeripheral::new(mtu);
    for (characteristic, value) in &frames {
        match server.on_write(*characteristic, value) {
            Ok(PeripheralEvent::Message(message)) => {
                for chunk in server.send(&message).unwrap() {
                    assert!(chunk.len() <= ble::characteristic_len(mtu));
                }
            }
            Ok(PeripheralEvent::Started | PeripheralEvent::Partial) => {}
            Ok(PeripheralEvent::Ended) | Err(_) => break,
        }
    }

    let mut central = BleCentral::new(mtu).accept_chunks_up_to(ble::MAX_CHARACTERISTIC_LEN);
    let _ = central.start();
    let _ = central.send(&[0xa0]);
    for (characteristic, value) in &frames {
        match central.on_notification(*characteristic, value) {
            Ok(CentralEvent::Message(message)) => {
                assert!(!message.is_empty());
                let _ = central.send(&message);
            }
            Ok(CentralEvent::Partial) => {}
            Ok(CentralEvent::Ended) | Err(_) => break,
        }
    }
    let _ = ble::split(data, mtu);
});
