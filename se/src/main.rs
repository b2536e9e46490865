//! `kazashi-se`: create, serve and inspect a virtual secure element.

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool: its output goes to stdout"
)]

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use kazashi_protocol::hex;
use kazashi_se::state::{HexBytes, Object, Secret};
use kazashi_se::{CardState, ChallengeMode, KeySet, Profile, Store, VirtualCard};
use p256::ecdsa::SigningKey;

const USAGE: &str = "\
usage:
  kazashi-se new --state FILE [--isd-aid HEX] [--kvn N] [--enc HEX --mac HEX --dek HEX]
                 [--kdd HEX] [--cin HEX] [--s16] [--random-challenge] [--seq N]
      create a chip (random keys, identity and diversification data unless given;
      --seq N is the counter value the next INITIALIZE UPDATE reports)
  kazashi-se serve --state FILE [--vpcd HOST:PORT]
      attach the chip to pcscd through vsmartcard-vpcd (default 127.0.0.1:35963,
      reader \"Virtual PCD 00 00\"); reconnects when pcscd restarts
  kazashi-se show --state FILE
      print the profile and contents as JSON, never the keys

exit codes: 0 ok, 1 failure, 2 usage
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("new") => new(&args[1..]),
        Some("serve") => serve(&args[1..]),
        Some("show") => show(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(Failure::Usage("unknown or missing command".into())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("kazashi-se: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("kazashi-se: {message}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(String),
    Failed(String),
}

struct Args<'a> {
    args: &'a [String],
    known: &'static [&'static str],
    flags: &'static [&'static str],
}

impl<'a> Args<'a> {
    fn new(
        args: &'a [String],
        known: &'static [&'static str],
        flags: &'static [&'static str],
    ) -> Result<Self, Failure> {
        let mut i = 0;
        while i < args.len() {
            let arg = args[i].as_str();
            if flags.contains(&arg) {
                i += 1;
            } else if known.contains(&arg) {
                if i + 1 >= args.len() {
                    return Err(Failure::Usage(format!("{arg} needs a value")));
                }
                i += 2;
            } else {
                return Err(Failure::Usage(format!("unknown argument {arg}")));
            }
        }
        Ok(Self { args, known, flags })
    }

    fn value(&self, name: &str) -> Option<&'a str> {
        debug_assert!(self.known.contains(&name));
        self.args
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.args.get(i + 1))
            .map(String::as_str)
    }

    fn required(&self, name: &str) -> Result<&'a str, Failure> {
        self.value(name)
            .ok_or_else(|| Failure::Usage(format!("{name} is required")))
    }

    fn flag(&self, name: &str) -> bool {
        debug_assert!(self.flags.contains(&name));
        self.args.iter().any(|a| a == name)
    }

    fn hex(&self, name: &str) -> Result<Option<Vec<u8>>, Failure> {
        self.value(name)
            .map(|v| hex::decode(v).ok_or_else(|| Failure::Usage(format!("{name}: invalid hex"))))
            .transpose()
    }
}

fn new(args: &[String]) -> Result<(), Failure> {
    let args = Args::new(
        args,
        &[
            "--state",
            "--isd-aid",
            "--kvn",
            "--enc",
            "--mac",
            "--dek",
            "--kdd",
            "--cin",
            "--seq",
        ],
        &["--s16", "--random-challenge"],
    )?;
    let store = Store::new(args.required("--state")?);
    let mut profile = Profile::random(&mut rand_core::OsRng);
    if let Some(aid) = args.hex("--isd-aid")? {
        profile.isd_aid = HexBytes(aid);
    }
    if let Some(kvn) = args.value("--kvn") {
        profile.kvn = parse_number(kvn)
            .and_then(|n| u8::try_from(n).ok())
            .ok_or_else(|| Failure::Usage("--kvn takes 0..255 (decimal or 0x..)".into()))?;
    }
    match (args.hex("--enc")?, args.hex("--mac")?, args.hex("--dek")?) {
        (Some(enc), Some(mac), Some(dek)) => {
            profile.keys = KeySet {
                enc: Secret::new(enc),
                mac: Secret::new(mac),
                dek: Secret::new(dek),
            };
        }
        (None, None, None) => {}
        _ => {
            return Err(Failure::Usage(
                "give all of --enc, --mac and --dek, or none".into(),
            ));
        }
    }
    if let Some(kdd) = args.hex("--kdd")? {
        profile.kdd = HexBytes(kdd);
    }
    if let Some(cin) = args.hex("--cin")? {
        profile.cin = HexBytes(cin);
    }
    profile.s16 = args.flag("--s16");
    if args.flag("--random-challenge") {
        profile.challenge = ChallengeMode::Random;
    }
    if let Some(seq) = args.value("--seq") {
        profile.sequence_counter = parse_number(seq)
            .filter(|n| (1..=0xFF_FFFF).contains(n))
            .ok_or_else(|| Failure::Usage("--seq takes 1..16777215".into()))?;
    }
    profile.validate().map_err(|e| Failure::Usage(e.into()))?;
    let chip = profile.chip_id();
    store
        .create(&CardState::new(profile))
        .map_err(|e| Failure::Failed(e.to_string()))?;
    println!("{chip}");
    eprintln!(
        "kazashi-se: created chip {chip} in {} (owner-only: it holds the card's keys)",
        store.path().display()
    );
    Ok(())
}

fn parse_number(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn serve(args: &[String]) -> Result<(), Failure> {
    let args = Args::new(args, &["--state", "--vpcd"], &[])?;
    let store = Store::new(args.required("--state")?);
    let addr = args.value("--vpcd").unwrap_or("127.0.0.1:35963");
    let mut card = VirtualCard::open(store).map_err(|e| Failure::Failed(e.to_string()))?;
    eprintln!(
        "kazashi-se: chip {} ready; serving through vpcd at {addr}",
        card.state().profile.chip_id()
    );
    let stop = Arc::new(AtomicBool::new(false));
    kazashi_se::vpcd::serve(&mut card, addr, &stop).map_err(|e| Failure::Failed(e.to_string()))
}

fn show(args: &[String]) -> Result<(), Failure> {
    let args = Args::new(args, &["--state"], &[])?;
    let state = Store::new(args.required("--state")?)
        .load()
        .map_err(|e| Failure::Failed(e.to_string()))?;
    let p = &state.profile;
    let mut namespaces = serde_json::Map::new();
    for (ns, names) in &state.objects {
        let mut objects = serde_json::Map::new();
        for (name, object) in names {
            let shown = match object {
                Object::Record { value } => serde_json::json!({
                    "kind": "record",
                    "length": value.0.len(),
                    "utf8": std::str::from_utf8(&value.0).ok(),
                    "hex": hex::encode_upper(&value.0),
                }),
                Object::Counter { value } => {
                    serde_json::json!({ "kind": "counter", "value": value })
                }
                Object::Key { private } => {
                    let public = SigningKey::from_slice(private.expose())
                        .map(|k| {
                            hex::encode_upper(k.verifying_key().to_encoded_point(false).as_bytes())
                        })
                        .unwrap_or_else(|_| "(unreadable)".into());
                    serde_json::json!({ "kind": "key", "public": public })
                }
            };
            objects.insert(label(&name.0), shown);
        }
        namespaces.insert(label(&ns.0), serde_json::Value::Object(objects));
    }
    let shown = serde_json::json!({
        "chip": p.chip_id(),
        "profile": {
            "isd_aid": hex::encode_upper(&p.isd_aid.0),
            "kvn": p.kvn,
            "key_length": p.keys.len(),
            "kdd": hex::encode_upper(&p.kdd.0),
            "s16": p.s16,
            "challenge": p.challenge,
            "next_sequence_counter": p.sequence_counter,
            "cin": hex::encode_upper(&p.cin.0),
            "ic_serial": hex::encode_upper(&p.ic_serial.0),
        },
        "used_bytes": state.used(),
        "namespaces": namespaces,
    });
    let text = serde_json::to_string_pretty(&shown).map_err(|e| Failure::Failed(e.to_string()))?;
    println!("{text}");
    Ok(())
}

fn label(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.chars().all(|c| !c.is_control()) => text.into(),
        _ => format!("0x{}", hex::encode_upper(bytes)),
    }
}
