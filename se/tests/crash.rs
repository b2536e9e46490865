//! Atomic, durable writes under SIGKILL.
//!
//! A writer process (this binary, re-executed) opens the card from its state file, opens an
//! SCP03 session (level 33, in-process host) and loops: PUT RECORD of a 1 KiB record stamped
//! with N, then COUNTER add 1, printing `ack put N` / `ack add V` (flushed) after each
//! acknowledged response. The test kills it with SIGKILL at pseudo-random moments (fixed seed,
//! so a failure reproduces), then loads the state file with `Store::load` and checks:
//! - the file parses every time (never a torn write);
//! - the record is whole (1 KiB of one stamp), its stamp is the last acknowledged N or N + 1
//!   (a write that landed but whose answer was not printed yet), never less;
//! - the counter is the last acknowledged value or one more, and equals the number of
//!   acknowledged adds so far (± the one in flight);
//! - the SCP03 sequence counter never goes back, and moved past every acknowledged
//!   INITIALIZE UPDATE (a reused card challenge would break pseudo-random mode).
//!
//! `KAZASHI_CRASH_KILLS` sets the number of kills (default 50), `KAZASHI_CRASH_SEED` the seed.

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

mod common;

use std::io::Write;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use common::procs::{self, Guard};
use common::*;
use kazashi_protocol::apdu::StatusWord;
use kazashi_protocol::idstore::{Reply, Request};
use kazashi_protocol::scp03::SecurityLevel;
use kazashi_se::state::{HexBytes, Object};
use kazashi_se::{CardState, Store, VirtualCard};

const NAME: &str = "crash_sigkill_during_writes";
const PHASE: &str = "KAZASHI_CRASH_WRITER";
const RECORD_LEN: usize = 1024;

fn main() -> ExitCode {
    if let Ok(path) = std::env::var(PHASE) {
        writer(&path);
        return ExitCode::SUCCESS;
    }
    if procs::filtered_out(NAME) {
        return ExitCode::SUCCESS;
    }
    println!("\nrunning 1 test");
    let started = Instant::now();
    let summary = crash_loop();
    println!(
        "test {NAME} ... ok ({summary}; {:.1} s)\n\ntest result: ok. 1 passed; 0 failed",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

fn stamp(n: u64) -> Vec<u8> {
    n.to_be_bytes().repeat(RECORD_LEN / 8)
}

/// The child: writes until killed.
fn writer(path: &str) {
    let mut out = std::io::stdout().lock();
    let mut card = VirtualCard::open(Store::new(path)).unwrap();
    let mut channel = open(&mut card, SecurityLevel::Full, false);
    writeln!(out, "session").unwrap();
    out.flush().unwrap();
    let start = match run(&mut card, &mut channel, &Request::GetRecord(slot("last"))) {
        Ok(Reply::Value(v)) => u64::from_be_bytes(v[..8].try_into().unwrap()) + 1,
        Err(StatusWord::ReferencedDataNotFound) => 1,
        other => panic!("GET RECORD: {other:?}"),
    };
    for n in start.. {
        let put = Request::PutRecord {
            slot: slot("last"),
            value: stamp(n),
        };
        assert_eq!(run(&mut card, &mut channel, &put), Ok(Reply::Done));
        writeln!(out, "ack put {n}").unwrap();
        out.flush().unwrap();
        let add = Request::Add {
            slot: slot("hits"),
            amount: 1,
        };
        let Ok(Reply::Counter(value)) = run(&mut card, &mut channel, &add) else {
            panic!("COUNTER add");
        };
        writeln!(out, "ack add {value}").unwrap();
        out.flush().unwrap();
    }
}

/// xorshift64*: a fixed seed makes the kill points reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// What the state file holds.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    stamp: u64,
    hits: u64,
    sequence: u32,
}

fn inspect(state: &CardState) -> Seen {
    let ns = state.objects.get(&HexBytes(b"city-hall".to_vec()));
    let get = |name: &str| ns.and_then(|m| m.get(&HexBytes(name.as_bytes().to_vec())));
    let stamp = match get("last") {
        None => 0,
        Some(Object::Record { value }) => {
            let n = u64::from_be_bytes(value.0[..8].try_into().unwrap());
            assert_eq!(value.0, stamp(n), "the record is whole");
            n
        }
        Some(other) => panic!("`last` is not a record: {other:?}"),
    };
    let hits = match get("hits") {
        None => 0,
        Some(Object::Counter { value }) => *value,
        Some(other) => panic!("`hits` is not a counter: {other:?}"),
    };
    Seen {
        stamp,
        hits,
        sequence: state.profile.sequence_counter,
    }
}

fn crash_loop() -> String {
    let kills: u32 = std::env::var("KAZASHI_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("KAZASHI_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6B61_7A61_7368_6921);
    let dir = procs::scratch("crash");
    let path = dir.join("chip.json");
    let store = Store::new(&path);
    store.create(&state()).unwrap();
    let mut rng = Rng(seed);
    let mut before = inspect(&store.load().unwrap());
    let (mut acked_puts, mut killed_in_session) = (0u64, 0u32);
    for round in 0..kills {
        let context = format!("round {round} (seed {seed:#x})");
        let mut child = Guard::spawn(
            "crash writer",
            Command::new(std::env::current_exe().unwrap())
                .env(PHASE, &path)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let stdout = child.child.as_mut().unwrap().stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut lines = Vec::new();
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line.clone());
                lines.push(line);
            }
            lines
        });
        // Every fifth round dies while starting (loading, INITIALIZE UPDATE); the others
        // once the session is open, 0-40 ms into the writes.
        if round % 5 == 4 {
            std::thread::sleep(Duration::from_millis(rng.below(15)));
        } else {
            let first = rx.recv_timeout(Duration::from_secs(20));
            assert_eq!(first.as_deref(), Ok("session"), "{context}: writer start");
            std::thread::sleep(Duration::from_millis(rng.below(40)));
        }
        child.kill();
        let lines = reader.join().unwrap();

        let after = inspect(
            &store
                .load()
                .unwrap_or_else(|e| panic!("{context}: the state file must load: {e}")),
        );
        let session = lines.iter().any(|l| l == "session");
        let last_put = lines
            .iter()
            .filter_map(|l| l.strip_prefix("ack put ")?.parse::<u64>().ok())
            .max();
        let last_add = lines
            .iter()
            .filter_map(|l| l.strip_prefix("ack add ")?.parse::<u64>().ok())
            .max();
        let puts = lines.iter().filter(|l| l.starts_with("ack put ")).count() as u64;
        let adds = lines.iter().filter(|l| l.starts_with("ack add ")).count() as u64;
        acked_puts += puts;
        killed_in_session += u32::from(session && puts == 0);

        // Acknowledged writes are on disk; at most the one in flight is beyond them.
        let floor = last_put.unwrap_or(before.stamp);
        assert!(
            after.stamp == floor || after.stamp == floor + 1,
            "{context}: record stamp {} after acknowledged {last_put:?} (before {})",
            after.stamp,
            before.stamp
        );
        let floor = last_add.unwrap_or(before.hits);
        assert!(
            after.hits == floor || after.hits == floor + 1,
            "{context}: counter {} after acknowledged {last_add:?} (before {})",
            after.hits,
            before.hits
        );
        assert!(
            after.hits >= before.hits + adds && after.hits <= before.hits + adds + 1,
            "{context}: {adds} acknowledged adds moved the counter {} -> {}",
            before.hits,
            after.hits
        );
        // INITIALIZE UPDATE saves the next sequence counter before answering.
        let expected = before.sequence + u32::from(session);
        assert!(
            after.sequence == expected || (!session && after.sequence == expected + 1),
            "{context}: sequence counter {} -> {} (session acknowledged: {session})",
            before.sequence,
            after.sequence
        );
        before = after;
    }
    let _ = std::fs::remove_dir_all(&dir);
    format!(
        "{kills} kills, {acked_puts} acknowledged PUT RECORDs, final stamp {}, counter {}, \
         {killed_in_session} kills before the first write",
        before.stamp, before.hits
    )
}
