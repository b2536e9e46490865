// Interoperability of kazashi's envelopes with the npm package `jose` (panva), both ways:
// what we sign and seal, jose verifies and opens; what jose signs and seals, we verify and open.
// The Rust side is `kazashi-interop-cli` (tests/interop-cli), built by `cargo xtask test`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = process.env.KAZASHI_INTEROP_CLI ?? join(root, 'target', 'release', 'kazashi-interop-cli');
const dir = mkdtempSync(join(tmpdir(), 'kazashi-interop-'));

const SERVER = 'https://server.kazashi.test';
const PROVIDER = 'city-hall';

function kazashi(args, input = '') {
  const out = spawnSync(cli, args, { input, encoding: 'utf8' });
  if (out.status === 64 || out.status === null) {
    throw new Error(`interop cli failed: ${out.stderr}`);
  }
  return { ok: out.status === 0, out: out.stdout.trim() };
}

function ok(args, input) {
  const r = kazashi(args, input);
  assert.equal(r.ok, true, `kazashi ${args[0]} refused: ${r.out}`);
  return r.out;
}

function refused(args, input) {
  const r = kazashi(args, input);
  assert.equal(r.ok, false, `kazashi ${args[0]} accepted what it should refuse`);
  return JSON.parse(r.out).error;
}

function file(name, value) {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
}

async function keyPair(name, alg = 'ES256') {
  // Keys made by jose, so that key import is tested too. WebCrypto keys carry their use:
  // ECDSA keys for ES256, ECDH keys for ECDH-ES.
  const options = alg === 'ES256' ? { extractable: true } : { extractable: true, crv: 'P-256' };
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, options);
  const priv = await jose.exportJWK(privateKey);
  const pub = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(pub);
  return {
    priv, pub, kid, privateKey, publicKey,
    privFile: file(`${name}.priv.jwk`, priv),
    pubFile: file(`${name}.pub.jwk`, pub),
  };
}

const now = () => Math.floor(Date.now() / 1000);

function commandClaims(extra = {}) {
  return {
    iss: PROVIDER, aud: SERVER, jti: `cmd-${Math.random().toString(36).slice(2)}`,
    iat: now(), exp: now() + 300,
    ops: [
      { op: 'put', record: 'resident-id', data: jose.base64url.encode('山田太郎 1970-01-01') },
      { op: 'get', record: 'resident-id' },
      { op: 'add', counter: 'points', amount: 120 },
      { op: 'keygen', key: 'cert-key' },
    ],
    ...extra,
  };
}

function resultClaims(cmd, extra = {}) {
  return {
    iss: SERVER, aud: PROVIDER, jti: 'txn-1', cmd, iat: now(), chip: 'chip-0001', status: 'ok',
    results: [
      { status: 'ok' },
      { status: 'ok', data: jose.base64url.encode('山田太郎 1970-01-01') },
      { status: 'ok', value: 1120 },
      { status: 'ok', jwk: { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' } },
    ],
    ...extra,
  };
}

const provider = await keyPair('provider');
const providerEnc = await keyPair('provider-enc', 'ECDH-ES+A256KW');
const serverSig = await keyPair('server-sig');
const serverEnc = await keyPair('server-enc', 'ECDH-ES+A256KW');
const jwks = file('jwks.json', { keys: [{ ...serverSig.pub, kid: serverSig.kid, use: 'sig', alg: 'ES256' }] });

test('a command kazashi signs and seals is opened and verified by jose', async () => {
  const claims = commandClaims();
  const token = ok(['seal-command', '--provider', provider.privFile, '--server', serverEnc.pubFile], JSON.stringify(claims));
  const { plaintext, protectedHeader: jweHeader } = await jose.compactDecrypt(token, serverEnc.privateKey);
  assert.equal(jweHeader.alg, 'ECDH-ES+A256KW');
  assert.equal(jweHeader.enc, 'A256GCM');
  assert.equal(jweHeader.cty, 'JWT');
  assert.equal(jweHeader.kid, serverEnc.kid);
  const { payload, protectedHeader } = await jose.jwtVerify(new TextDecoder().decode(plaintext), provider.publicKey, {
    algorithms: ['ES256'], typ: 'kazashi-command+jwt', issuer: PROVIDER, audience: SERVER,
  });
  assert.equal(protectedHeader.kid, provider.kid);
  assert.deepEqual(payload, claims);
});

test('a command jose signs and seals is opened and verified by kazashi', async () => {
  const claims = commandClaims({ sub: 'chip-0001' });
  const jws = await new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: 'kazashi-command+jwt', kid: provider.kid })
    .sign(provider.privateKey);
  const jwe = await new jose.CompactEncrypt(new TextEncoder().encode(jws))
    .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty: 'JWT', kid: serverEnc.kid })
    .encrypt(serverEnc.publicKey);
  const args = ['open-command', '--server', serverEnc.privFile, '--provider', provider.pubFile,
    '--provider-id', PROVIDER, '--audience', SERVER];
  assert.deepEqual(JSON.parse(ok(args, jwe)), claims);

  // The same command, unsealed, or sealed with the wrong typ, is refused.
  assert.equal(refused(args, jws), 'not_sealed');
  const wrongTyp = await new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: 'kazashi-result+jwt', kid: provider.kid })
    .sign(provider.privateKey);
  const sealedWrongTyp = await new jose.CompactEncrypt(new TextEncoder().encode(wrongTyp))
    .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty: 'JWT', kid: serverEnc.kid })
    .encrypt(serverEnc.publicKey);
  assert.equal(refused(args, sealedWrongTyp), 'wrong_typ');
  assert.equal(refused([...args.slice(0, 6), 'someone-else', ...args.slice(7)], jwe), 'wrong_issuer');
});

test('a result kazashi signs (and seals) is verified (and opened) by jose', async () => {
  const claims = resultClaims('cmd-1');
  const signed = ok(['sign-result', '--server', serverSig.privFile], JSON.stringify(claims));
  const { payload, protectedHeader } = await jose.jwtVerify(signed, serverSig.publicKey, {
    algorithms: ['ES256'], typ: 'kazashi-result+jwt', issuer: SERVER, audience: PROVIDER,
  });
  assert.equal(protectedHeader.kid, serverSig.kid);
  assert.deepEqual(payload, claims);

  const sealed = ok(['seal-result', '--server', serverSig.privFile, '--provider', providerEnc.pubFile], JSON.stringify(claims));
  const { plaintext } = await jose.compactDecrypt(sealed, providerEnc.privateKey);
  const inner = await jose.jwtVerify(new TextDecoder().decode(plaintext), serverSig.publicKey, { typ: 'kazashi-result+jwt' });
  assert.deepEqual(inner.payload, claims);
});

test('a result jose signs (and seals) is verified (and opened) by kazashi', async () => {
  const claims = resultClaims('cmd-2');
  const signed = await new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: 'kazashi-result+jwt', kid: serverSig.kid })
    .sign(serverSig.privateKey);
  const verify = ['verify-result', '--jwks', jwks, '--issuer', SERVER, '--audience', PROVIDER, '--command', 'cmd-2'];
  const plain = JSON.parse(ok(verify, signed));
  assert.equal(plain.sealed, false);
  assert.deepEqual(plain.claims, claims);

  const sealed = await new jose.CompactEncrypt(new TextEncoder().encode(signed))
    .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty: 'JWT', kid: providerEnc.kid })
    .encrypt(providerEnc.publicKey);
  const opened = JSON.parse(ok([...verify, '--provider-key', providerEnc.privFile], sealed));
  assert.equal(opened.sealed, true);
  assert.deepEqual(opened.claims, claims);

  assert.equal(refused(verify, sealed), 'sealed_needs_key');
  assert.equal(refused(['verify-result', '--jwks', jwks, '--issuer', SERVER, '--audience', PROVIDER, '--command', 'cmd-9'], signed), 'command_mismatch');
  assert.equal(refused(['verify-result', '--jwks', jwks, '--issuer', SERVER, '--audience', 'another-provider'], signed), 'wrong_audience');
  // One changed character of the payload: the signature no longer holds.
  const [h, p, s] = signed.split('.');
  const tampered = [h, p.slice(0, 10) + (p[10] === 'A' ? 'B' : 'A') + p.slice(11), s].join('.');
  assert.notEqual(kazashi(verify, tampered).ok, true);
});

test('plain JWS ES256 both ways', async () => {
  const text = 'kazashi ✓ jose';
  const ours = ok(['jws-sign', '--key', provider.privFile, '--typ', 'example'], text);
  const theirs = await jose.compactVerify(ours, provider.publicKey, { algorithms: ['ES256'] });
  assert.equal(new TextDecoder().decode(theirs.payload), text);
  assert.equal(theirs.protectedHeader.typ, 'example');

  const fromJose = await new jose.CompactSign(new TextEncoder().encode(text))
    .setProtectedHeader({ alg: 'ES256' }).sign(provider.privateKey);
  assert.equal(ok(['jws-verify', '--key', provider.pubFile], fromJose), text);
  // ES384 from jose is refused by our algorithm allow-list.
  const p384 = await jose.generateKeyPair('ES384');
  const es384 = await new jose.CompactSign(new TextEncoder().encode(text))
    .setProtectedHeader({ alg: 'ES384' }).sign(p384.privateKey);
  assert.notEqual(kazashi(['jws-verify', '--key', provider.pubFile], es384).ok, true);
});

for (const alg of ['ECDH-ES', 'ECDH-ES+A256KW']) {
  test(`plain JWE ${alg} with A256GCM both ways`, async () => {
    const text = '券 ticket 0123456789'.repeat(20);
    const ours = ok(['jwe-encrypt', '--key', serverEnc.pubFile, '--alg', alg], text);
    const theirs = await jose.compactDecrypt(ours, serverEnc.privateKey);
    assert.equal(theirs.protectedHeader.alg, alg);
    assert.equal(new TextDecoder().decode(theirs.plaintext), text);

    const fromJose = await new jose.CompactEncrypt(new TextEncoder().encode(text))
      .setProtectedHeader({ alg, enc: 'A256GCM' }).encrypt(serverEnc.publicKey);
    assert.equal(ok(['jwe-decrypt', '--key', serverEnc.privFile], fromJose), text);
    // A256CBC-HS512 is not in our allow-list.
    const cbc = await new jose.CompactEncrypt(new TextEncoder().encode(text))
      .setProtectedHeader({ alg, enc: 'A256CBC-HS512' }).encrypt(serverEnc.publicKey);
    assert.notEqual(kazashi(['jwe-decrypt', '--key', serverEnc.privFile], cbc).ok, true);
  });
}
