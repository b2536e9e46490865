//! Shared by the offline benchmarks (`offline`, `offline_write`): the test PKI, the 2 KiB of
//! element values, and the NFC data retrieval link in memory (NFC static handover, SELECT,
//! framed exchanges) with its traffic counted and the modeled link time reported.

use ciborium::value::Value;
use kazashi_protocol::offline::engagement::NfcOptions;
use kazashi_protocol::offline::mso::ValidityInfo;
use kazashi_protocol::offline::ndef::HandoverSelect;
use kazashi_protocol::offline::nfc::{
    self, AppletAction, HolderApplet, Limits, Next, ReaderExchange,
};
use kazashi_protocol::offline::pki::{Certificate, CertificateBuilder, Profile, Usage};
use kazashi_protocol::offline::*;
use p256::PublicKey;
use p256::ecdsa::SigningKey;
use rand_core::OsRng;

pub const NOW: u64 = 1_767_225_600;
/// The modeled link: ISO 14443 at 424 kbit/s, 3 ms turnaround per APDU (reader, driver,
/// phone's card emulation).
const LINK_BITS_PER_SECOND: f64 = 424_000.0;
const TURNAROUND_MS: f64 = 3.0;

/// A root and a leaf for `usage` under it, and the leaf's key.
pub fn party(name: &str, usage: Usage) -> (Certificate, Certificate, SigningKey) {
    let root_key = SigningKey::random(&mut OsRng);
    let root = CertificateBuilder::new(
        &format!("CN={name} root"),
        Profile::Root,
        NOW - 1_000_000,
        NOW + 1_000_000,
    )
    .build(&PublicKey::from(root_key.verifying_key()), None, &root_key)
    .unwrap();
    let key = SigningKey::random(&mut OsRng);
    let leaf = CertificateBuilder::new(
        &format!("CN={name}"),
        Profile::Leaf(usage),
        NOW - 1_000_000,
        NOW + 1_000_000,
    )
    .serial(&[2])
    .build(
        &PublicKey::from(key.verifying_key()),
        Some(&root),
        &root_key,
    )
    .unwrap();
    (root, leaf, key)
}

/// 2 KiB of element values in namespace `ns`: a 1,900-byte portrait, text fields, a number
/// element named `number` and a boolean named `flag`.
pub fn elements_2k(ns: &str, number: &str, flag: &str) -> Vec<(String, Vec<(String, Value)>)> {
    vec![(
        ns.to_string(),
        vec![
            ("family_name".to_string(), Value::Text("Yamada".into())),
            ("given_name".to_string(), Value::Text("Hanako".into())),
            ("birth_date".to_string(), Value::Text("1990-04-01".into())),
            (number.to_string(), Value::Text("JP-0123456789".into())),
            (
                "address".to_string(),
                Value::Text("1-1 Chiyoda, Chiyoda-ku, Tokyo".into()),
            ),
            ("portrait".to_string(), Value::Bytes(vec![0xA5; 1_900])),
            (flag.to_string(), Value::Bool(true)),
        ],
    )]
}

/// Valid from just before [`NOW`] for about eleven days.
pub fn validity() -> ValidityInfo {
    ValidityInfo {
        signed: NOW - 10,
        valid_from: NOW - 10,
        valid_until: NOW + 1_000_000,
        expected_update: None,
    }
}

#[derive(Default, Debug)]
pub struct Traffic {
    pub apdus: usize,
    pub bytes: usize,
}

/// The NFC link to a phone engaged by NFC static handover (extended APDUs offered) and
/// selected.
pub struct Link {
    pub engagement: DeviceEngagement,
    pub handover: Handover,
    pub limits: Limits,
    pub applet: HolderApplet,
    pub traffic: Traffic,
}

impl Link {
    /// The phone's holder, its handover read (not counted) and SELECT (counted);
    /// `reader_extended`: whether the reader takes extended-length APDUs.
    pub fn engage(reader_extended: bool) -> (Holder, Self) {
        let options = NfcOptions {
            max_command_len: 65_535,
            max_response_len: 65_536,
        };
        let (holder, select) = Holder::with_nfc_handover(options, &mut OsRng);
        let read = HandoverSelect::parse(select.as_bytes()).unwrap();
        let limits = Limits::negotiate(read.nfc().unwrap(), reader_extended).unwrap();
        let handover = Handover::NfcStatic {
            select: select.as_bytes().to_vec(),
        };
        let mut traffic = Traffic::default();
        let mut applet = HolderApplet::new();
        let select_command = nfc::select_command();
        traffic.apdus += 1;
        traffic.bytes += select_command.to_bytes().unwrap().len() + 2;
        let AppletAction::Respond(_) = applet.process(&select_command) else {
            panic!()
        };
        let link = Self {
            engagement: read.engagement().clone(),
            handover,
            limits,
            applet,
            traffic,
        };
        (holder, link)
    }

    /// One message to the phone in APDUs, `answer`ed by the phone; its reply.
    pub fn exchange(
        &mut self,
        message: &[u8],
        answer: impl FnOnce(Vec<u8>) -> Option<Vec<u8>>,
    ) -> Option<Vec<u8>> {
        let mut answer = Some(answer);
        let (mut reader, mut command) = ReaderExchange::start(message, self.limits).unwrap();
        loop {
            let wire = command.to_bytes().unwrap();
            self.traffic.apdus += 1;
            self.traffic.bytes += wire.len();
            let response = match self.applet.process(&command) {
                AppletAction::Respond(r) => r,
                AppletAction::Message(m) => {
                    let reply = (answer.take().unwrap())(m);
                    self.applet.reply(reply.as_deref())
                }
            };
            self.traffic.bytes += response.data.len() + 2;
            match reader.handle_response(&response).unwrap() {
                Next::Command(next) => command = next,
                Next::Message(reply) => return reply,
            }
        }
    }
}

/// Prints the APDUs, bytes and modeled link time of `run` with short and extended APDUs.
pub fn report(title: &str, run: impl Fn(bool) -> Traffic) {
    eprintln!("\n{title}:");
    eprintln!("  link            APDUs   bytes   modeled link time (424 kbit/s + 3 ms/APDU)");
    for extended in [false, true] {
        let t = run(extended);
        let ms =
            t.bytes as f64 * 8.0 / LINK_BITS_PER_SECOND * 1000.0 + t.apdus as f64 * TURNAROUND_MS;
        let name = if extended { "extended" } else { "short" };
        eprintln!("  {name:<14} {:>6} {:>7}   {ms:.1} ms", t.apdus, t.bytes);
    }
    eprintln!();
}
