// Node benchmark of the npm package `kazashi` against `jose` and `@noble/curves`, in one run:
// `cargo xtask sdk bench` (or `node bench.mjs` once the tarball is installed here).
// Each operation runs sequentially (one await at a time) for BENCH_SECONDS (default 2) per
// library, in 9 rounds where the libraries take turns (medians reported), after a short
// warm-up; the figures that mean something are the ratios within one run.
// `kazashi` is the main entry (WebCrypto under Node); `kazashi/rustcrypto`, the fallback
// module (RustCrypto inside the wasm), is measured too. The noble column is a pure-JavaScript
// JOSE built by hand from @noble/curves (P-256), @noble/hashes (SHA-256, Concat KDF) and
// @noble/ciphers (AES-KW, AES-GCM), doing the same work and the same checks as the others.
import * as kazashi from 'kazashi';
import * as rustcrypto from 'kazashi/rustcrypto';
import * as jose from 'jose';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { aeskw, gcm } from '@noble/ciphers/aes.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const NOW = Math.floor(Date.now() / 1000);
const enc = new TextEncoder();
const b64 = (bytes) => Buffer.from(bytes).toString('base64url');

const claims = {
  iss: 'city-hall', aud: 'https://server.kazashi.test', jti: 'cmd-1', iat: NOW, exp: NOW + 300,
  ops: [{ op: 'put', record: 'resident-id', data: b64(enc.encode('Yamada Taro, 1-2-3 Chiyoda')) }, { op: 'add', counter: 'points', amount: 10 }],
};
const result = {
  iss: 'https://server.kazashi.test', aud: 'city-hall', jti: 'txn-1', cmd: 'cmd-1', iat: NOW,
  chip: 'chip-1', status: 'ok', results: [{ status: 'ok' }, { status: 'ok', value: 17 }],
};

// Keys: one ES256 pair and one ECDH pair, shared by all three libraries as JWKs.
const sig = await kazashi.generateKeyPair();
const ecdh = await kazashi.generateKeyPair();
const joseSigPriv = await jose.importJWK(sig.privateJwk, 'ES256');
const joseSigPub = await jose.importJWK(sig.publicJwk, 'ES256');
const joseEncPub = await jose.importJWK(ecdh.publicJwk, 'ECDH-ES+A256KW');
const joseEncPriv = await jose.importJWK(ecdh.privateJwk, 'ECDH-ES+A256KW');
const nobleSecret = new Uint8Array(Buffer.from(sig.privateJwk.d, 'base64url'));
const noblePublic = new Uint8Array(Buffer.concat([Buffer.from([4]), Buffer.from(sig.publicJwk.x, 'base64url'), Buffer.from(sig.publicJwk.y, 'base64url')]));

const header = { alg: 'ES256', typ: 'kazashi-command+jwt', kid: sig.publicJwk.kid };
const resultHeader = { alg: 'ES256', typ: 'kazashi-result+jwt', kid: sig.publicJwk.kid };
const signed = await kazashi.signCommand(claims, sig.privateJwk);
const sealed = await kazashi.sealCommand(claims, { providerKey: sig.privateJwk, serverKey: ecdh.publicJwk });
const signedResult = await new jose.SignJWT(result).setProtectedHeader(resultHeader).sign(joseSigPriv);
const serverKeys = { keys: [sig.publicJwk] };
const verifyOptions = { serverKeys, issuer: result.iss, audience: result.aud, command: 'cmd-1', now: NOW };

const dec = new TextDecoder();
const unb64 = (text) => new Uint8Array(Buffer.from(text, 'base64url'));
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
};
const u32 = (n) => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
// RFC 7518 §4.6.2 for ECDH-ES+A256KW: one SHA-256 block.
const concatKdf = (z) => {
  const alg = enc.encode('ECDH-ES+A256KW');
  return sha256(concat(u32(1), z, u32(alg.length), alg, u32(0), u32(0), u32(256)));
};
const nobleEcdhSecret = unb64(ecdh.privateJwk.d);
const nobleEcdhPublic = concat([4], unb64(ecdh.publicJwk.x), unb64(ecdh.publicJwk.y));

function nobleSign() {
  const input = `${b64(enc.encode(JSON.stringify(header)))}.${b64(enc.encode(JSON.stringify(claims)))}`;
  return `${input}.${b64(p256.sign(enc.encode(input), nobleSecret, { lowS: false }))}`;
}
function nobleVerify(token, key = noblePublic) {
  const dot = token.lastIndexOf('.');
  const ok = p256.verify(unb64(token.slice(dot + 1)), enc.encode(token.slice(0, dot)), key, { lowS: false });
  if (!ok) throw new Error('noble: bad signature');
  return JSON.parse(dec.decode(unb64(token.split('.')[1])));
}
function nobleSeal() {
  const jws = nobleSign();
  const ephemeral = p256.utils.randomSecretKey();
  const epk = p256.getPublicKey(ephemeral, false);
  const kek = concatKdf(p256.getSharedSecret(ephemeral, nobleEcdhPublic).subarray(1));
  const protectedHeader = b64(enc.encode(JSON.stringify({
    alg: 'ECDH-ES+A256KW', enc: 'A256GCM',
    epk: { kty: 'EC', crv: 'P-256', x: b64(epk.subarray(1, 33)), y: b64(epk.subarray(33)) },
    cty: 'JWT', kid: ecdh.publicJwk.kid,
  })));
  const cek = crypto.getRandomValues(new Uint8Array(32));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = gcm(cek, iv, enc.encode(protectedHeader)).encrypt(enc.encode(jws));
  return [protectedHeader, b64(aeskw(kek).encrypt(cek)), b64(iv), b64(sealed.subarray(0, -16)), b64(sealed.subarray(-16))].join('.');
}
function nobleOpen(token) {
  const [h, k, iv, c, t] = token.split('.');
  const header = JSON.parse(dec.decode(unb64(h)));
  if (header.alg !== 'ECDH-ES+A256KW' || header.enc !== 'A256GCM') throw new Error('noble: unsupported');
  const epk = concat([4], unb64(header.epk.x), unb64(header.epk.y));
  const kek = concatKdf(p256.getSharedSecret(nobleEcdhSecret, epk).subarray(1));
  const cek = aeskw(kek).decrypt(unb64(k));
  return gcm(cek, unb64(iv), enc.encode(h)).decrypt(concat(unb64(c), unb64(t)));
}
function nobleVerifyResult(token) {
  const h = JSON.parse(dec.decode(unb64(token.split('.')[0])));
  if (h.alg !== 'ES256' || h.typ !== 'kazashi-result+jwt' || h.kid !== sig.publicJwk.kid) throw new Error('noble: header');
  const c = nobleVerify(token);
  if (c.iss !== result.iss || c.aud !== result.aud || c.cmd !== 'cmd-1' || c.iat > NOW + 60) throw new Error('noble: claims');
  return c;
}

const sealOptions = { providerKey: sig.privateJwk, serverKey: ecdh.publicJwk };
const operations = {
  sign: {
    kazashi: () => kazashi.signCommand(claims, sig.privateJwk),
    rustcrypto: () => rustcrypto.signCommand(claims, sig.privateJwk),
    jose: () => new jose.SignJWT(claims).setProtectedHeader(header).sign(joseSigPriv),
    noble: async () => nobleSign(),
  },
  verify: {
    kazashi: () => kazashi.compactVerify(signed, sig.publicJwk),
    rustcrypto: () => rustcrypto.compactVerify(signed, sig.publicJwk),
    jose: () => jose.compactVerify(signed, joseSigPub),
    noble: async () => nobleVerify(signed),
  },
  seal: {
    kazashi: () => kazashi.sealCommand(claims, sealOptions),
    rustcrypto: () => rustcrypto.sealCommand(claims, sealOptions),
    jose: async () => {
      const jws = await new jose.SignJWT(claims).setProtectedHeader(header).sign(joseSigPriv);
      return new jose.CompactEncrypt(enc.encode(jws))
        .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty: 'JWT', kid: ecdh.publicJwk.kid })
        .encrypt(joseEncPub);
    },
    noble: async () => nobleSeal(),
  },
  open: {
    kazashi: () => kazashi.compactDecrypt(sealed, ecdh.privateJwk),
    rustcrypto: () => rustcrypto.compactDecrypt(sealed, ecdh.privateJwk),
    jose: () => jose.compactDecrypt(sealed, joseEncPriv),
    noble: async () => nobleOpen(sealed),
  },
  verifyResult: {
    kazashi: () => kazashi.verifyResult(signedResult, verifyOptions),
    rustcrypto: () => rustcrypto.verifyResult(signedResult, verifyOptions),
    jose: () => jose.jwtVerify(signedResult, joseSigPub, {
      typ: 'kazashi-result+jwt', issuer: result.iss, audience: result.aud, algorithms: ['ES256'],
    }),
    noble: async () => nobleVerifyResult(signedResult),
  },
};

// Every implementation must accept what the others make before anything is timed.
for (const token of [await operations.seal.jose(), nobleSeal(), await rustcrypto.sealCommand(claims, sealOptions)]) {
  await kazashi.compactDecrypt(token, ecdh.privateJwk);
  nobleOpen(token);
}
nobleVerify(await kazashi.signCommand(claims, sig.privateJwk));
await kazashi.compactVerify(nobleSign(), sig.publicJwk);
nobleVerifyResult(signedResult);

/** Operations per second of `fn`, run sequentially for `ms` milliseconds. */
async function rate(fn, ms) {
  let count = 0;
  const start = performance.now();
  const end = start + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 5; i++) await fn();
    count += 5;
  }
  return count / ((performance.now() - start) / 1000);
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];

/**
 * Each library's median rate over ROUNDS rounds; within a round the libraries take turns, so
 * that a change of load on the machine falls on all of them alike.
 */
async function measure(libs) {
  const rounds = 9;
  const slice = (SECONDS * 1000) / rounds;
  for (const fn of Object.values(libs)) await rate(fn, 100); // warm-up
  const rates = Object.fromEntries(Object.keys(libs).map((lib) => [lib, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [lib, fn] of Object.entries(libs)) rates[lib].push(await rate(fn, slice));
  }
  return Object.fromEntries(Object.entries(rates).map(([lib, values]) => [lib, median(values)]));
}

const rows = [];
for (const [name, libs] of Object.entries(operations)) {
  const rate = await measure(libs);
  rows.push({
    operation: name,
    'kazashi ops/s': Math.round(rate.kazashi),
    'rustcrypto ops/s': Math.round(rate.rustcrypto),
    'jose ops/s': Math.round(rate.jose),
    'noble ops/s': Math.round(rate.noble),
    'kazashi/jose': (rate.kazashi / rate.jose).toFixed(2),
    'kazashi/noble': (rate.kazashi / rate.noble).toFixed(2),
    'rustcrypto/jose': (rate.rustcrypto / rate.jose).toFixed(2),
  });
}
console.log(`node ${process.version}, ${SECONDS} s per operation and library, in 9 interleaved rounds (medians)`);
console.table(rows);
if (process.env.BENCH_MARKDOWN) {
  const cols = Object.keys(rows[0]);
  console.log(`| ${cols.join(' | ')} |\n|${cols.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${cols.map((c) => r[c]).join(' | ')} |`);
}
