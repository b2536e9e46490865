// Random strings, random bytes and hostile JavaScript values at every argument of every
// function: each call rejects with a KazashiError (or succeeds), never a wasm trap
// (`RuntimeError: unreachable`) nor any other error; and the instance keeps working after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import h from './helpers.cjs';

/** Registers the suite for one entry of the package (`kazashi` or `kazashi/rustcrypto`). */
export default function register(kazashi, label) {
  const { KazashiError } = kazashi;
  const ROUNDS = Number(process.env.KAZASHI_GARBAGE_ROUNDS ?? 1000);

  // A seeded xorshift, so that a failure can be replayed.
  let seed = 0x9e3779b9;
  const next = () => ((seed ^= seed << 13), (seed ^= seed >>> 17), (seed ^= seed << 5), seed >>> 0);
  const pick = (list) => list[next() % list.length];
  const bytes = (n) => Uint8Array.from({ length: n }, () => next() & 0xff);
  const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

  function randomString() {
    const n = next() % 300;
    switch (next() % 5) {
      case 0: return Array.from({ length: n }, () => String.fromCharCode(next() % 128)).join('');
      case 1: return Array.from({ length: n }, () => String.fromCharCode(next() % 0x10000)).join(''); // lone surrogates too
      case 2: return Array.from({ length: n }, () => (next() % 12 === 0 ? '.' : B64URL[next() % 64])).join('');
      case 3: return Array.from({ length: 5 }, () => h.b64(bytes(next() % 60))).join('.');
      default: return Array.from({ length: 3 }, () => h.b64(bytes(next() % 90))).join('.');
    }
  }

  function hostile() {
    const cyclic = { kty: 'EC' };
    cyclic.self = cyclic;
    const cyclicArray = [];
    cyclicArray.push(cyclicArray);
    let deep = {};
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    let deepArray = [];
    for (let i = 0; i < 100_000; i++) deepArray = [deepArray];
    const throwing = new Proxy({}, { get() { throw new Error('trap'); }, ownKeys() { throw new Error('trap'); } });
    const getter = Object.defineProperty({}, 'keys', { get() { throw new Error('getter'); }, enumerable: true });
    return [
      undefined, null, true, 0, -1, 1.5, NaN, Infinity, 2 ** 64, 10n, Symbol('s'), () => 1, '', 'x',
      {}, [], new Uint8Array(0), new ArrayBuffer(8), new Date(), new Map(), /re/, new Error('e'),
      cyclic, cyclicArray, deep, deepArray, throwing, getter,
      { keys: cyclicArray }, { keys: [cyclic] }, { keys: deepArray },
      { ...h.commandClaims(), aud: cyclicArray }, { ...h.commandClaims(), aud: deepArray },
      { ...h.commandClaims(), ops: [{ op: 'put', record: deep, data: 'AA' }] },
      { ...h.commandClaims(), ops: [{ op: 'get', record: cyclicArray }] },
      { ...h.commandClaims(), ops: cyclicArray }, { ...h.commandClaims(), ops: throwing },
      { ...h.commandClaims(), iat: 10n }, { ...h.commandClaims(), exp: Symbol('x') },
      { serverKeys: cyclic, issuer: 'a', audience: 'b' },
      { serverKeys: { keys: [] }, issuer: Symbol('a'), audience: 'b' },
      { serverKeys: { keys: [] }, issuer: 'a', audience: 'b', now: -5 },
      { serverKeys: { keys: [] }, issuer: 'a', audience: 'b', now: 'soon' },
      { providerKey: cyclic, serverKey: deep }, { providerKey: h.A3_JWK, serverKey: throwing },
      { ...h.A3_JWK, key_ops: cyclicArray }, { ...h.A3_JWK, key_ops: deepArray }, { ...h.A3_JWK, d: 7 },
    ];
  }

  const functions = {
    signCommand: (a, b) => kazashi.signCommand(a, b),
    sealCommand: (a, b) => kazashi.sealCommand(a, b),
    verifyResult: (a, b) => kazashi.verifyResult(a, b),
    compactVerify: (a, b) => kazashi.compactVerify(a, b),
    compactDecrypt: (a, b) => kazashi.compactDecrypt(a, b),
    calculateJwkThumbprint: (a) => kazashi.calculateJwkThumbprint(a),
  };
  const good = {
    signCommand: [h.commandClaims(), h.A3_JWK],
    sealCommand: [h.commandClaims(), { providerKey: h.A3_JWK, serverKey: h.BOB_PUBLIC }],
    verifyResult: [h.A3_TOKEN, { serverKeys: { keys: [h.A3_PUBLIC] }, issuer: 'joe', audience: 'x', providerKey: h.BOB_JWK }],
    compactVerify: [h.A3_TOKEN, h.A3_PUBLIC],
    compactDecrypt: ['a.b.c.d.e', h.BOB_JWK],
    calculateJwkThumbprint: [h.A3_PUBLIC],
  };

  async function settle(name, args) {
    try {
      await functions[name](...args);
    } catch (error) {
      if (!(error instanceof KazashiError) || typeof error.code !== 'string') {
        assert.fail(`${name}: not a KazashiError: ${error?.stack ?? String(error)}`);
      }
    }
  }

  test(`${label}: hostile JavaScript values at every argument`, async () => {
    const values = hostile();
    for (const [name, args] of Object.entries(good)) {
      for (let position = 0; position < args.length; position++) {
        for (const value of values) {
          const mixed = [...args];
          mixed[position] = value;
          await settle(name, mixed);
        }
      }
    }
  });

  test(`${label}: random strings and random bytes at every argument`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, args] of Object.entries(good)) {
        const mixed = [...args];
        const position = next() % args.length;
        mixed[position] = pick([randomString, () => bytes(next() % 400), () => bytes(next() % 400).buffer])();
        await settle(name, mixed);
      }
    }
  });

  test(`${label}: mutated tokens (one character changed, or truncated) are refused, never a trap`, async () => {
    const provider = await kazashi.generateKeyPair();
    const server = await kazashi.generateKeyPair();
    const sealed = await kazashi.sealCommand(h.commandClaims(), { providerKey: provider.privateJwk, serverKey: server.publicJwk });
    const tokens = [sealed, h.A3_TOKEN];
    for (let round = 0; round < ROUNDS; round++) {
      const token = pick(tokens);
      const at = next() % token.length;
      const mutated = next() % 4 === 0
        ? token.slice(0, at)
        : token.slice(0, at) + pick([...`${B64URL}.=+/ \0é`]) + token.slice(at + 1);
      if (mutated === token) continue;
      await settle('compactVerify', [mutated, h.A3_PUBLIC]);
      await settle('compactDecrypt', [mutated, server.privateJwk]);
      await settle('verifyResult', [mutated, { serverKeys: { keys: [h.A3_PUBLIC] }, issuer: 'joe', audience: 'x', providerKey: server.privateJwk }]);
    }
  });

  test(`${label}: the instance still works after all of that`, async () => {
    const { publicJwk } = await kazashi.generateKeyPair();
    assert.equal(publicJwk.crv, 'P-256');
    await kazashi.compactVerify(h.A3_TOKEN, h.A3_PUBLIC);
  });
}
