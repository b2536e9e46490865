// Node benchmark of the npm package `kazashi` against `jose` and `@noble/curves`, in one run:
// `cargo xtask sdk bench` (or `node bench.mjs` once the tarball is installed here).
// Each operation runs sequentially (one await at a time) for BENCH_SECONDS (default 1) after
// a short warm-up; the figures that mean something are the ratios within one run.
import * as kazashi from 'kazashi';
import * as jose from 'jose';
import { p256 } from '@noble/curves/nist.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);
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
const nobleSecret = Buffer.from(sig.privateJwk.d, 'base64url');
const noblePublic = Buffer.concat([Buffer.from([4]), Buffer.from(sig.publicJwk.x, 'base64url'), Buffer.from(sig.publicJwk.y, 'base64url')]);

const header = { alg: 'ES256', typ: 'kazashi-command+jwt', kid: sig.publicJwk.kid };
const resultHeader = { alg: 'ES256', typ: 'kazashi-result+jwt', kid: sig.publicJwk.kid };
const signed = await kazashi.signCommand(claims, sig.privateJwk);
const sealed = await kazashi.sealCommand(claims, { providerKey: sig.privateJwk, serverKey: ecdh.publicJwk });
const signedResult = await new jose.SignJWT(result).setProtectedHeader(resultHeader).sign(joseSigPriv);
const serverKeys = { keys: [sig.publicJwk] };
const verifyOptions = { serverKeys, issuer: result.iss, audience: result.aud, command: 'cmd-1', now: NOW };

function nobleSign() {
  const input = `${b64(enc.encode(JSON.stringify(header)))}.${b64(enc.encode(JSON.stringify(claims)))}`;
  return `${input}.${b64(p256.sign(enc.encode(input), nobleSecret, { lowS: false }))}`;
}
function nobleVerify(token) {
  const dot = token.lastIndexOf('.');
  const ok = p256.verify(Buffer.from(token.slice(dot + 1), 'base64url'), enc.encode(token.slice(0, dot)), noblePublic, { lowS: false });
  if (!ok) throw new Error('noble: bad signature');
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url'));
}

const operations = {
  sign: {
    kazashi: () => kazashi.signCommand(claims, sig.privateJwk),
    jose: () => new jose.SignJWT(claims).setProtectedHeader(header).sign(joseSigPriv),
    noble: async () => nobleSign(),
  },
  verify: {
    kazashi: () => kazashi.compactVerify(signed, sig.publicJwk),
    jose: () => jose.compactVerify(signed, joseSigPub),
    noble: async () => nobleVerify(signed),
  },
  seal: {
    kazashi: () => kazashi.sealCommand(claims, { providerKey: sig.privateJwk, serverKey: ecdh.publicJwk }),
    jose: async () => {
      const jws = await new jose.SignJWT(claims).setProtectedHeader(header).sign(joseSigPriv);
      return new jose.CompactEncrypt(enc.encode(jws))
        .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty: 'JWT', kid: ecdh.publicJwk.kid })
        .encrypt(joseEncPub);
    },
  },
  open: {
    kazashi: () => kazashi.compactDecrypt(sealed, ecdh.privateJwk),
    jose: () => jose.compactDecrypt(sealed, joseEncPriv),
  },
  verifyResult: {
    kazashi: () => kazashi.verifyResult(signedResult, verifyOptions),
    jose: () => jose.jwtVerify(signedResult, joseSigPub, {
      typ: 'kazashi-result+jwt', issuer: result.iss, audience: result.aud, algorithms: ['ES256'],
    }),
  },
};

async function measure(fn) {
  const warm = performance.now() + 150;
  while (performance.now() < warm) await fn();
  let count = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 20; i++) await fn();
    count += 20;
  }
  return count / ((performance.now() - start) / 1000);
}

const rows = [];
for (const [name, libs] of Object.entries(operations)) {
  const rate = {};
  for (const [lib, fn] of Object.entries(libs)) rate[lib] = await measure(fn);
  rows.push({
    operation: name,
    'kazashi ops/s': Math.round(rate.kazashi),
    'jose ops/s': Math.round(rate.jose),
    'noble ops/s': rate.noble ? Math.round(rate.noble) : '—',
    'kazashi/jose': (rate.kazashi / rate.jose).toFixed(2),
    'kazashi/noble': rate.noble ? (rate.kazashi / rate.noble).toFixed(2) : '—',
  });
}
console.log(`node ${process.version}, ${SECONDS} s per operation and library`);
console.table(rows);
if (process.env.BENCH_MARKDOWN) {
  const cols = Object.keys(rows[0]);
  console.log(`| ${cols.join(' | ')} |\n|${cols.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${cols.map((c) => r[c]).join(' | ')} |`);
}
