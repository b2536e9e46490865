// The main entry's WebCrypto path under Node: keys imported once and served from a cache keyed
// by their content, mismatched pairs refused however often they come, and an unexpected
// WebCrypto failure reported as `crypto_failed` without poisoning later calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as kazashi from 'kazashi';
import h from './helpers.cjs';

const { KazashiError } = kazashi;
const rejects = (promise, code, what) => h.rejectsWith(promise, KazashiError, code, what);
const subtle = Object.getPrototypeOf(globalThis.crypto.subtle);

/** Calls to `subtle[name]` while `body` runs. */
async function count(name, body) {
  const original = subtle[name];
  let calls = 0;
  subtle[name] = function counted(...args) {
    calls += 1;
    return original.apply(this, args);
  };
  try {
    await body();
  } finally {
    subtle[name] = original;
  }
  return calls;
}

test('webcrypto: a key is imported once, then found by its content', async () => {
  const { privateJwk, publicJwk } = await kazashi.generateKeyPair();
  const claims = h.commandClaims();
  assert.ok((await count('importKey', () => kazashi.signCommand(claims, privateJwk))) >= 1);
  assert.equal(await count('importKey', () => kazashi.signCommand(claims, privateJwk)), 0);
  // Another object with the same members (as from JSON.parse): still cached.
  const copy = JSON.parse(JSON.stringify(privateJwk));
  assert.equal(await count('importKey', () => kazashi.signCommand(claims, copy)), 0);
  const token = await kazashi.signCommand(claims, privateJwk);
  assert.ok((await count('importKey', () => kazashi.compactVerify(token, publicJwk))) >= 1);
  assert.equal(await count('importKey', () => kazashi.compactVerify(token, publicJwk)), 0);
  // Signing still happens every time: the cache holds keys, never results.
  assert.equal(await count('sign', () => kazashi.signCommand(claims, privateJwk)), 1);
});

test('webcrypto: the same x and y with another d is a mismatch, every time', async () => {
  const claims = h.commandClaims();
  await kazashi.signCommand(claims, h.A3_JWK);
  for (let i = 0; i < 3; i++) {
    await rejects(kazashi.signCommand(claims, { ...h.A3_JWK, d: h.BOB_JWK.d }), 'key_mismatch');
    await rejects(kazashi.compactDecrypt('a.b.c.d.e', { ...h.BOB_JWK, d: h.A3_JWK.d }), 'key_mismatch');
  }
  await kazashi.signCommand(claims, h.A3_JWK);
});

test('webcrypto: an unexpected failure is crypto_failed, and the next call works', async () => {
  const claims = h.commandClaims();
  const original = subtle.sign;
  subtle.sign = async () => {
    throw new DOMException('injected', 'NotSupportedError');
  };
  try {
    await rejects(kazashi.signCommand(claims, h.A3_JWK), 'crypto_failed');
  } finally {
    subtle.sign = original;
  }
  const token = await kazashi.signCommand(claims, h.A3_JWK);
  await kazashi.compactVerify(token, h.A3_PUBLIC);
});

test('webcrypto: ECDH and AES run in WebCrypto for sealing and opening', async () => {
  const provider = await kazashi.generateKeyPair();
  const server = await kazashi.generateKeyPair();
  const claims = h.commandClaims();
  let sealed;
  assert.equal(await count('wrapKey', async () => {
    sealed = await kazashi.sealCommand(claims, { providerKey: provider.privateJwk, serverKey: server.publicJwk });
  }), 1);
  assert.equal(await count('unwrapKey', () => kazashi.compactDecrypt(sealed, server.privateJwk)), 1);
  assert.equal(await count('deriveBits', () => kazashi.compactDecrypt(sealed, server.privateJwk)), 1);
});
