//! Wrapped commands per second at level 33 (C-MAC, C-DEC, R-MAC, R-ENC), 64-byte data:
//! host wrap + card unwrap + card wrap response + host unwrap, S8 and S16.

#![allow(
    clippy::unwrap_used,
    reason = "benchmark setup: a failure should abort the run"
)]

use criterion::{Criterion, Throughput, criterion_main};
use kazashi_protocol::apdu::{Command, Response, StatusWord};
use kazashi_protocol::scp03::*;
use rand_core::OsRng;

fn open(s_mode: SMode) -> (SecureChannel, CardSession) {
    let keys = || StaticKeys::from_slices(&[1; 16], &[2; 16], &[3; 16]).unwrap();
    let config = CardConfig {
        aid: Aid::new(&[0xA0, 0, 0, 1, 0x51, 0, 0, 0]).unwrap(),
        kvn: 0x30,
        key_diversification_data: [0; 10],
        options: ScpOptions {
            s_mode,
            challenge: ChallengeMode::PseudoRandom,
            response: ResponseProtection::RMacREnc,
        },
        minimum_level: SecurityLevel::CMac,
    };
    let mut card = CardSession::new();
    let start = InitializeUpdateSent::new(0x30, Challenge::random(s_mode, &mut OsRng));
    let answer = card
        .initialize_update(
            &config,
            &keys(),
            SequenceCounter::ZERO,
            &mut OsRng,
            &start.command(),
        )
        .unwrap();
    let (sent, ea) = start
        .handle_response(&keys(), &answer.response)
        .unwrap()
        .external_authenticate(SecurityLevel::Full)
        .unwrap();
    let response = card.external_authenticate(&ea.to_bytes().unwrap()).unwrap();
    (sent.handle_response(&response).unwrap(), card)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("scp03_level33_64B");
    group.throughput(Throughput::Elements(1));
    for s_mode in [SMode::S8, SMode::S16] {
        let command = Command::new(0x80, 0xE2, 0x90, 0x00)
            .with_data(vec![0x5A; 64])
            .with_le(256);
        let reply = vec![0xA5; 64];
        group.bench_function(format!("{s_mode:?}"), |b| {
            let (mut host, mut card) = open(s_mode);
            b.iter(|| {
                let (wrapped, pending) = host.wrap(&command).unwrap();
                let plain = card.unwrap_command(&wrapped.to_bytes().unwrap()).unwrap();
                let response = card.wrap_response(Response::new(reply.clone(), StatusWord::Ok));
                let result = host.unwrap(pending, &response).unwrap();
                assert_eq!(plain.data.len(), result.response().data.len());
            })
        });
    }
    group.finish();
}

#[allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]
mod group {
    criterion::criterion_group!(benches, super::bench);
}
use group::benches;
criterion_main!(benches);
