//! JOSE throughput: ES256 sign and verify, JWE ECDH-ES+A256KW/A256GCM seal and open, over a
//! 1 KiB payload.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kazashi_protocol::jose::jwe::{self, KeyManagement};
use kazashi_protocol::jose::{HeaderParams, PrivateKey, jws};

fn jose(c: &mut Criterion) {
    let mut rng = rand_core::OsRng;
    let payload: Vec<u8> = (0..1024u32).map(|i| b'a' + (i % 26) as u8).collect();
    let signer = PrivateKey::generate(&mut rng);
    let verifier = signer.public_key();
    let recipient = PrivateKey::generate(&mut rng);
    let recipient_public = recipient.public_key();
    let header = HeaderParams::new()
        .with_typ("kazashi-command+jwt")
        .with_kid(verifier.thumbprint());
    let sealed_header = HeaderParams::new().with_cty("JWT");

    let mut group = c.benchmark_group("jose_1KiB");
    group.throughput(Throughput::Elements(1));

    group.bench_function("jws_sign_es256", |b| {
        b.iter(|| jws::sign(black_box(&header), black_box(&payload), &signer).unwrap())
    });

    let token = jws::sign(&header, &payload, &signer).unwrap();
    group.bench_function("jws_verify_es256", |b| {
        b.iter(|| jws::verify(black_box(&token), &verifier).unwrap())
    });

    group.bench_function("jwe_seal_ecdh_es_a256kw", |b| {
        b.iter(|| {
            jwe::encrypt(
                black_box(&payload),
                &recipient_public,
                KeyManagement::EcdhEsA256Kw,
                &sealed_header,
                &mut rng,
            )
            .unwrap()
        })
    });

    let sealed = jwe::encrypt(
        &payload,
        &recipient_public,
        KeyManagement::EcdhEsA256Kw,
        &sealed_header,
        &mut rng,
    )
    .unwrap();
    group.bench_function("jwe_open_ecdh_es_a256kw", |b| {
        b.iter(|| jwe::decrypt(black_box(&sealed), &recipient).unwrap())
    });
    group.finish();
}

criterion_group!(benches, jose);
criterion_main!(benches);
