// `kazashi/rustcrypto`: the fallback module (ECDSA, ECDH and AES inside the wasm, RustCrypto)
// through the same suites as the main entry — jose interoperability both ways, the negative
// corpus with its codes, hostile input — and proof that it never touches WebCrypto.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as main from 'kazashi';
import * as rustcrypto from 'kazashi/rustcrypto';
import registerInterop from './interop.cjs';
import registerNegative from './negative.mjs';
import registerGarbage from './garbage.mjs';
import h from './helpers.cjs';

registerInterop(rustcrypto, 'rustcrypto');
await registerNegative(rustcrypto, 'rustcrypto');
registerGarbage(rustcrypto, 'rustcrypto');

/** Counts calls to every SubtleCrypto method while `body` runs. */
async function countSubtleCalls(body) {
  const proto = Object.getPrototypeOf(globalThis.crypto.subtle);
  const names = Object.getOwnPropertyNames(proto).filter((n) => n !== 'constructor' && typeof proto[n] === 'function');
  const originals = new Map(names.map((n) => [n, proto[n]]));
  let calls = 0;
  for (const [name, original] of originals) {
    proto[name] = function counted(...args) {
      calls += 1;
      return original.apply(this, args);
    };
  }
  try {
    await body();
  } finally {
    for (const [name, original] of originals) proto[name] = original;
  }
  return calls;
}

async function everyOperation(kazashi) {
  const provider = await kazashi.generateKeyPair();
  const server = await kazashi.generateKeyPair();
  const claims = h.commandClaims();
  const signed = await kazashi.signCommand(claims, provider.privateJwk);
  await kazashi.compactVerify(signed, provider.publicJwk);
  const sealed = await kazashi.sealCommand(claims, { providerKey: provider.privateJwk, serverKey: server.publicJwk });
  const { plaintext } = await kazashi.compactDecrypt(sealed, server.privateJwk);
  const { payload } = await kazashi.compactVerify(new TextDecoder().decode(plaintext), provider.publicJwk);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(payload)), claims);
  return { provider, server, signed, sealed };
}

test('rustcrypto: no WebCrypto call at all; the main entry makes them', async () => {
  assert.equal(await countSubtleCalls(() => everyOperation(rustcrypto)), 0);
  assert.ok((await countSubtleCalls(() => everyOperation(main))) >= 8);
});

test('rustcrypto and webcrypto: each opens and verifies what the other made', async () => {
  for (const [maker, taker] of [[main, rustcrypto], [rustcrypto, main]]) {
    const { provider, server, signed, sealed } = await everyOperation(maker);
    const { payload } = await taker.compactVerify(signed, provider.publicJwk);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(payload)), h.commandClaims());
    const { plaintext, protectedHeader } = await taker.compactDecrypt(sealed, server.privateJwk);
    assert.equal(protectedHeader.cty, 'JWT');
    assert.equal(protectedHeader.kid, server.publicJwk.kid);
    const inner = await taker.compactVerify(new TextDecoder().decode(plaintext), provider.publicJwk);
    assert.equal(inner.protectedHeader.kid, provider.publicJwk.kid);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(inner.payload)), h.commandClaims());
    // Keys made by one sign with the other.
    const again = await taker.signCommand(h.commandClaims(), provider.privateJwk);
    await maker.compactVerify(again, provider.publicJwk);
  }
});

test('rustcrypto: require and import share one instance, and KazashiError with `kazashi`', () => {
  const require = createRequire(import.meta.url);
  assert.equal(require('kazashi/rustcrypto').verifyResult, rustcrypto.verifyResult);
  assert.equal(rustcrypto.KazashiError, main.KazashiError);
});
