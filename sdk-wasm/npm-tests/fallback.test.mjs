// A runtime without WebCrypto (a browser page served over plain HTTP has
// `crypto.getRandomValues` but no `crypto.subtle`): `kazashi` loads its fallback module on
// first use and every operation still works, with the protocol's codes. This file runs in its
// own process (node --test), with `crypto.subtle` hidden before the package loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import nodeCrypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import h from './helpers.cjs';

const real = globalThis.crypto;
Object.defineProperty(globalThis, 'crypto', {
  value: { getRandomValues: (array) => real.getRandomValues(array) },
  configurable: true,
  writable: true,
});
assert.equal(globalThis.crypto.subtle, undefined);

const kazashi = await import('kazashi');
const { KazashiError } = kazashi;
const rejects = (promise, code, what) => h.rejectsWith(promise, KazashiError, code, what);
const packageDir = dirname(createRequire(import.meta.url).resolve('kazashi/package.json'));

/** RFC 7518 Appendix C's Bob as the recipient: protocol/tests/jose_vectors.rs, KAT_JWE_KW. */
const KAT_JWE_KW =
  'eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00iLCJlcGsiOnsia3R5IjoiRUMiLCJjcnYiOiJQLTI1NiIsIngiOiJUTVNsbEJ5RkZMaml2R1E4SHRaT1pEaXpsYlYtOC03RDR3c09pOVBLSzlNIiwieSI6ImxhWHUwODlPbDdGWnVyb3BmbW1rN3RXYWRvRTdHVERTOG9qbFE1UmdWdGsifSwiY3R5IjoiSldUIiwia2lkIjoiVnk1N1hyQXJVclcwTmJwSTEydEV6REhBQnhNd3JUaDZISFhSZW5TcG5DbyJ9.R1rk11GHvKoS_cHkZpZO5zXyrJ0-In4nq5SpPKgth4GcuVRTtvFj8A.P-DK8ADQWX4kIzvj.OTHzWUKrd5N61MvtfPqML2E.1PqrchYMoLCqiHIreq3UUg';

function nodeVerifies(token, publicJwk) {
  const [header, payload, signature] = token.split('.');
  const key = nodeCrypto.createPublicKey({ key: publicJwk, format: 'jwk' });
  return nodeCrypto.verify('sha256', Buffer.from(`${header}.${payload}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
}

test('no WebCrypto: keys, signing and sealing work, and node:crypto verifies the signatures', async () => {
  const provider = await kazashi.generateKeyPair();
  const server = await kazashi.generateKeyPair();
  assert.equal(provider.publicJwk.kid, await kazashi.calculateJwkThumbprint(provider.publicJwk));
  const claims = h.commandClaims();
  const signed = await kazashi.signCommand(claims, provider.privateJwk);
  assert.ok(nodeVerifies(signed, provider.publicJwk));
  const sealed = await kazashi.sealCommand(claims, { providerKey: provider.privateJwk, serverKey: server.publicJwk });
  const { plaintext, protectedHeader } = await kazashi.compactDecrypt(sealed, server.privateJwk);
  assert.equal(protectedHeader.alg, 'ECDH-ES+A256KW');
  assert.ok(nodeVerifies(new TextDecoder().decode(plaintext), provider.publicJwk));
  await rejects(kazashi.compactDecrypt(sealed, provider.privateJwk), 'decryption_failed');
});

test('no WebCrypto: known vectors and refusals', async () => {
  const { payload } = await kazashi.compactVerify(h.A3_TOKEN, h.A3_PUBLIC);
  assert.match(new TextDecoder().decode(payload), /"iss":"joe"/);
  await rejects(kazashi.compactVerify(h.A3_TOKEN, h.BOB_PUBLIC), 'invalid_signature');
  const { plaintext } = await kazashi.compactDecrypt(KAT_JWE_KW, h.BOB_JWK);
  assert.equal(new TextDecoder().decode(plaintext), 'sealed by kazashi');
  await rejects(kazashi.signCommand(h.commandClaims(), { ...h.A3_JWK, d: h.BOB_JWK.d }), 'key_mismatch');
  await rejects(kazashi.compactVerify('a.b', h.A3_PUBLIC), 'invalid_compact');
  const result = h.forgeJws(JSON.stringify({ alg: 'ES256', typ: 'kazashi-result+jwt', kid: 'k' }), JSON.stringify(h.resultClaims()));
  const options = { serverKeys: { keys: [{ ...h.A3_PUBLIC, kid: 'k' }] }, issuer: h.SERVER, audience: h.PROVIDER, now: h.NOW };
  assert.equal((await kazashi.verifyResult(result, options)).jti, 'txn-1');
  await rejects(kazashi.verifyResult(result, { ...options, audience: 'bank' }), 'wrong_audience');
});

test('no WebCrypto: the browser entry imports its fallback module', async () => {
  const browser = await import(pathToFileURL(join(packageDir, 'browser.js')).href);
  // The main module's bytes do not fit the fallback's glue: proof that the fallback is loaded.
  const main = readFileSync(join(packageDir, 'web', 'kazashi_sdk_wasm_bg.wasm'));
  await h.rejectsWith(browser.initialize(main, { fallback: main }), browser.KazashiError, 'wasm_load_failed');
  await browser.initialize(main, { fallback: readFileSync(join(packageDir, 'web', 'kazashi_sdk_wasm_rustcrypto_bg.wasm')) });
  const { privateJwk, publicJwk } = await browser.generateKeyPair();
  assert.ok(nodeVerifies(await browser.signCommand(h.commandClaims(), privateJwk), publicJwk));
});
