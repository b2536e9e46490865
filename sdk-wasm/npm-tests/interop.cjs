// Interoperability with the npm package `jose`, both ways, and the package's API contract.
// Registered by esm.test.mjs (kazashi loaded with `import`) and cjs.test.cjs (`require`).
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const h = require('./helpers.cjs');

/** Registers the suite for one way of loading the package. */
module.exports = function register(kazashi, label) {
  const { KazashiError } = kazashi;
  const jose = () => import('jose');

  async function joseKeys(alg) {
    const { generateKeyPair, exportJWK, calculateJwkThumbprint } = await jose();
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, crv: 'P-256' });
    const priv = await exportJWK(privateKey);
    const pub = await exportJWK(publicKey);
    return { privateKey, publicKey, priv, pub, kid: await calculateJwkThumbprint(pub) };
  }

  test(`${label}: generateKeyPair gives P-256 JWKs named by their thumbprint`, async () => {
    const { calculateJwkThumbprint, importJWK } = await jose();
    const { privateJwk, publicJwk } = await kazashi.generateKeyPair();
    assert.deepEqual(Object.keys(publicJwk).sort(), ['crv', 'kid', 'kty', 'x', 'y']);
    assert.equal(publicJwk.kty, 'EC');
    assert.equal(publicJwk.crv, 'P-256');
    assert.equal(publicJwk.d, undefined);
    assert.equal(typeof privateJwk.d, 'string');
    assert.equal(publicJwk.kid, await calculateJwkThumbprint(publicJwk));
    assert.equal(privateJwk.kid, publicJwk.kid);
    assert.equal(await kazashi.calculateJwkThumbprint(privateJwk), publicJwk.kid);
    await importJWK(privateJwk, 'ES256');
    const other = await kazashi.generateKeyPair();
    assert.notEqual(other.publicJwk.kid, publicJwk.kid);
  });

  test(`${label}: signCommand is verified by jose`, async () => {
    const { jwtVerify, importJWK } = await jose();
    const { privateJwk, publicJwk } = await kazashi.generateKeyPair();
    const claims = h.commandClaims();
    const token = await kazashi.signCommand(claims, privateJwk);
    assert.equal(typeof token, 'string');
    const { payload, protectedHeader } = await jwtVerify(token, await importJWK(publicJwk, 'ES256'), {
      typ: 'kazashi-command+jwt',
      issuer: h.PROVIDER,
      audience: h.SERVER,
      currentDate: new Date(h.NOW * 1000),
      algorithms: ['ES256'],
    });
    assert.deepEqual(protectedHeader, { alg: 'ES256', typ: 'kazashi-command+jwt', kid: publicJwk.kid });
    assert.deepEqual(payload, claims);
  });

  test(`${label}: sealCommand is opened by jose with the server key, then verified`, async () => {
    const { compactDecrypt, jwtVerify, importJWK } = await jose();
    const provider = await kazashi.generateKeyPair();
    const server = await joseKeys('ECDH-ES+A256KW');
    const claims = h.commandClaims({ aud: [h.SERVER, 'https://other.test'] });
    const sealed = await kazashi.sealCommand(claims, { providerKey: provider.privateJwk, serverKey: server.pub });
    assert.equal(sealed.split('.').length, 5);
    const { plaintext, protectedHeader } = await compactDecrypt(sealed, server.privateKey, {
      keyManagementAlgorithms: ['ECDH-ES+A256KW'],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    assert.equal(protectedHeader.alg, 'ECDH-ES+A256KW');
    assert.equal(protectedHeader.enc, 'A256GCM');
    assert.equal(protectedHeader.cty, 'JWT');
    assert.equal(protectedHeader.kid, server.kid);
    const { payload } = await jwtVerify(new TextDecoder().decode(plaintext), await importJWK(provider.publicJwk, 'ES256'), {
      typ: 'kazashi-command+jwt',
      currentDate: new Date(h.NOW * 1000),
    });
    assert.deepEqual(payload, claims);
    // Keys made by jose (WebCrypto exports) sign commands too.
    const joseProvider = await joseKeys('ES256');
    const token = await kazashi.signCommand(claims, joseProvider.priv);
    const { payload: again } = await jwtVerify(token, joseProvider.publicKey, { currentDate: new Date(h.NOW * 1000) });
    assert.deepEqual(again, claims);
  });

  test(`${label}: results signed and sealed by jose are verified and opened by verifyResult`, async () => {
    const { SignJWT, CompactEncrypt } = await jose();
    const server = await joseKeys('ES256');
    const providerEnc = await joseKeys('ECDH-ES+A256KW');
    const claims = h.resultClaims({
      results: [
        { status: 'ok', data: h.b64(h.utf8('Yamada Taro')) },
        { status: 'ok', value: 7 },
        { status: 'ok', jwk: { kty: 'EC', crv: 'P-256', x: h.BOB_PUBLIC.x, y: h.BOB_PUBLIC.y } },
        { status: 'ok', rapdu: '9000' },
        { status: 'failed', sw: '6a82', error: 'not_found' },
        { status: 'skipped' },
      ],
    });
    const signed = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'kazashi-result+jwt', kid: server.kid })
      .sign(server.privateKey);
    const options = {
      serverKeys: { keys: [{ ...server.pub, kid: server.kid, use: 'sig' }] },
      issuer: h.SERVER,
      audience: h.PROVIDER,
      command: 'cmd-1',
      now: h.NOW + 5,
    };
    assert.deepEqual(await kazashi.verifyResult(signed, options), claims);
    assert.deepEqual(await kazashi.verifyResult(new TextEncoder().encode(signed), options), claims);
    // A server JWKS whose keys carry no kid: found by thumbprint.
    assert.deepEqual(await kazashi.verifyResult(signed, { ...options, serverKeys: { keys: [server.pub] } }), claims);

    const sealed = await new CompactEncrypt(new TextEncoder().encode(signed))
      .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty: 'JWT', kid: providerEnc.kid })
      .encrypt(providerEnc.publicKey);
    assert.deepEqual(await kazashi.verifyResult(sealed, { ...options, providerKey: providerEnc.priv }), claims);
    await h.rejectsWith(kazashi.verifyResult(sealed, options), KazashiError, 'sealed_needs_key');
    // And the default clock: a result issued now.
    const fresh = await new SignJWT({ ...claims, iat: Math.floor(Date.now() / 1000) })
      .setProtectedHeader({ alg: 'ES256', typ: 'kazashi-result+jwt', kid: server.kid })
      .sign(server.privateKey);
    const { now, ...clockOptions } = options;
    assert.equal((await kazashi.verifyResult(fresh, { ...clockOptions, maxAge: 60 })).jti, 'txn-1');
  });

  test(`${label}: a server key found in a JWKS is checked again when the JWKS changes under the same kid`, async () => {
    // Keys found in a JWKS are validated once and kept by their whole JWK: a rotated key, or a
    // broken one, under a kid that verified before must not be answered from that memory.
    const { SignJWT } = await jose();
    const server = await joseKeys('ES256');
    const other = await joseKeys('ES256');
    const claims = h.resultClaims({ results: [{ status: 'ok', value: 1 }] });
    const signed = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'kazashi-result+jwt', kid: 'rotating' })
      .sign(server.privateKey);
    const options = (pub) => ({
      serverKeys: { keys: [{ ...pub, kid: 'rotating' }] },
      issuer: h.SERVER, audience: h.PROVIDER, now: h.NOW + 5,
    });
    for (let round = 0; round < 2; round++) {
      assert.deepEqual(await kazashi.verifyResult(signed, options(server.pub)), claims);
      await h.rejectsWith(kazashi.verifyResult(signed, options(other.pub)), KazashiError, 'invalid_signature');
      // x of one key, y of another: not a point on the curve.
      await h.rejectsWith(kazashi.verifyResult(signed, options({ ...server.pub, y: other.pub.y })), KazashiError, 'invalid_key');
      await h.rejectsWith(kazashi.verifyResult(signed, options({ ...server.pub, crv: 'P-384' })), KazashiError, 'invalid_key');
    }
  });

  test(`${label}: RFC 7515 A.3 (a high-S signature) is accepted by compactVerify`, async () => {
    const { payload, protectedHeader } = await kazashi.compactVerify(h.A3_TOKEN, h.A3_PUBLIC);
    assert.deepEqual(protectedHeader, { alg: 'ES256' });
    assert.ok(payload instanceof Uint8Array);
    assert.equal(
      new TextDecoder().decode(payload),
      '{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}',
    );
    await h.rejectsWith(kazashi.compactVerify(h.A3_TOKEN, h.BOB_PUBLIC), KazashiError, 'invalid_signature');
  });

  test(`${label}: compactDecrypt opens what jose seals, both key managements`, async () => {
    const { CompactEncrypt, importJWK } = await jose();
    for (const alg of ['ECDH-ES', 'ECDH-ES+A256KW']) {
      const token = await new CompactEncrypt(h.utf8('hello kazashi'))
        .setProtectedHeader({ alg, enc: 'A256GCM' })
        .encrypt(await importJWK(h.BOB_PUBLIC, alg));
      const { plaintext, protectedHeader } = await kazashi.compactDecrypt(token, h.BOB_JWK);
      assert.equal(new TextDecoder().decode(plaintext), 'hello kazashi');
      assert.equal(protectedHeader.alg, alg);
    }
  });

  test(`${label}: fetchServerKeys follows the discovery document`, async (t) => {
    const jwks = { keys: [{ ...h.A3_PUBLIC, use: 'sig', kid: 'sig-1' }, { ...h.BOB_PUBLIC, use: 'enc', kid: 'enc-1' }] };
    const server = http.createServer((req, res) => {
      const send = (status, body, type = 'application/json') => {
        res.writeHead(status, { 'content-type': type });
        res.end(typeof body === 'string' ? body : JSON.stringify(body));
      };
      if (req.url === '/.well-known/kazashi') send(200, { issuer: h.SERVER, jwks_uri: '/.well-known/jwks.json' });
      else if (req.url === '/.well-known/jwks.json') send(200, jwks);
      else if (req.url === '/no-jwks-uri') send(200, { issuer: h.SERVER });
      else if (req.url === '/not-json') send(200, '<html>', 'text/html');
      else if (req.url === '/bad-keys') send(200, { keys: [{ kty: 7 }] });
      else send(404, { error: 'not_found' });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const base = `http://127.0.0.1:${server.address().port}`;
    const found = await kazashi.fetchServerKeys(`${base}/.well-known/kazashi`);
    assert.equal(found.issuer, h.SERVER);
    assert.deepEqual(found.keys, jwks.keys);
    assert.deepEqual(await kazashi.fetchServerKeys(new URL(`${base}/.well-known/jwks.json`)), jwks);
    await h.rejectsWith(kazashi.fetchServerKeys(`${base}/missing`), KazashiError, 'fetch_failed');
    await h.rejectsWith(kazashi.fetchServerKeys(`${base}/no-jwks-uri`), KazashiError, 'invalid_discovery');
    await h.rejectsWith(kazashi.fetchServerKeys(`${base}/not-json`), KazashiError, 'invalid_json');
    await h.rejectsWith(kazashi.fetchServerKeys(`${base}/bad-keys`), KazashiError, 'invalid_key');
    await h.rejectsWith(kazashi.fetchServerKeys('http://127.0.0.1:1/'), KazashiError, 'fetch_failed');
    await h.rejectsWith(kazashi.fetchServerKeys(42), KazashiError, 'invalid_argument');
  });

  test(`${label}: every failure is a KazashiError with a code`, async () => {
    assert.equal(typeof KazashiError, 'function');
    const error = new KazashiError('expired', 'expired');
    assert.ok(error instanceof Error);
    assert.equal(error.code, 'expired');
    await h.rejectsWith(kazashi.signCommand(h.commandClaims({ ops: [] }), h.A3_JWK), KazashiError, 'invalid_claims');
    await h.rejectsWith(kazashi.signCommand(h.commandClaims(), h.A3_PUBLIC), KazashiError, 'invalid_key');
    await h.rejectsWith(kazashi.verifyResult('a.b.c', null), KazashiError, 'invalid_argument');
  });
};
