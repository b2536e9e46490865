//! Wrapped ID-store commands per second against the virtual card, SCP03 level 33 (C-MAC,
//! C-DEC, R-MAC, R-ENC): host wrap + card unwrap, applet, card wrap + host unwrap.
//! - in memory, S8 and S16: the cost of the protocol and the applet;
//! - persisted (state file replaced atomically with fsync before every answer that changed it):
//!   the durability cost of a write; reads do not touch the disk.
//!
//! The state file lives under `CARGO_TARGET_TMPDIR` (on the target directory's file system,
//! not a tmpfs, so fsync is real).

#![allow(
    clippy::unwrap_used,
    missing_docs,
    reason = "benchmark setup: a failure should abort the run"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use common::*;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kazashi_protocol::idstore::{Reply, Request};
use kazashi_protocol::scp03::SecurityLevel;
use kazashi_se::{Store, VirtualCard};

fn requests() -> [(&'static str, Request); 2] {
    [
        (
            "counter_add",
            Request::Add {
                slot: slot("points"),
                amount: 1,
            },
        ),
        ("get_record", Request::GetRecord(slot("resident-id"))),
    ]
}

fn prepared(
    mut card: VirtualCard,
    s16: bool,
) -> (VirtualCard, kazashi_protocol::scp03::SecureChannel) {
    let mut channel = open(&mut card, SecurityLevel::Full, s16);
    let put = Request::PutRecord {
        slot: slot("resident-id"),
        value: vec![0x42; 256],
    };
    assert_eq!(run(&mut card, &mut channel, &put), Ok(Reply::Done));
    (card, channel)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("idstore_level33");
    group.throughput(Throughput::Elements(1));
    for s16 in [false, true] {
        let mode = if s16 { "S16" } else { "S8" };
        let mut st = state();
        st.profile.s16 = s16;
        let (mut card, mut channel) = prepared(VirtualCard::in_memory(st), s16);
        for (name, request) in requests() {
            group.bench_function(format!("in_memory/{mode}/{name}"), |b| {
                b.iter(|| black_box(run(&mut card, &mut channel, black_box(&request)).unwrap()))
            });
        }
    }

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("kazashi-se-bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::new(dir.join("chip.json"));
    store.create(&state()).unwrap();
    let (mut card, mut channel) = prepared(VirtualCard::open(store).unwrap(), false);
    for (name, request) in requests() {
        group.bench_function(format!("persisted_fsync/S8/{name}"), |b| {
            b.iter(|| black_box(run(&mut card, &mut channel, black_box(&request)).unwrap()))
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
