// Shared by the ESM and CommonJS suites: fixtures, token forging, error assertions.
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');

/** RFC 7515 Appendix A.3: the ES256 example key. */
const A3_JWK = {
  kty: 'EC', crv: 'P-256',
  x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
  y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
  d: 'jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI',
};
const A3_PUBLIC = { kty: 'EC', crv: 'P-256', x: A3_JWK.x, y: A3_JWK.y };
/** RFC 7515 Appendix A.3.1: the example token (its signature is high-S). */
const A3_TOKEN =
  'eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q';
/** RFC 7518 Appendix C: Bob's static key. */
const BOB_JWK = {
  kty: 'EC', crv: 'P-256',
  x: 'weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ',
  y: 'e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck',
  d: 'VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw',
};
const BOB_PUBLIC = { kty: 'EC', crv: 'P-256', x: BOB_JWK.x, y: BOB_JWK.y };

const SERVER = 'https://server.kazashi.test';
const PROVIDER = 'city-hall';
const NOW = 1_800_000_000;

const b64 = (bytes) => Buffer.from(bytes).toString('base64url');
const utf8 = (text) => Buffer.from(text, 'utf8');

/** A JWS over arbitrary header and payload bytes, signed (R‖S) with a private JWK. */
function forgeJws(header, payload, jwk = A3_JWK) {
  const input = `${b64(typeof header === 'string' ? utf8(header) : header)}.${b64(
    typeof payload === 'string' ? utf8(payload) : payload,
  )}`;
  const key = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
  const signature = crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64(signature)}`;
}

function replacePart(token, index, part) {
  const parts = token.split('.');
  parts[index] = part;
  return parts.join('.');
}

/** Asserts that `promise` rejects with a KazashiError of `code`. */
async function rejectsWith(promise, KazashiError, code, what = '') {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof KazashiError, `${what}: not a KazashiError: ${error?.stack ?? error}`);
    assert.ok(error instanceof Error);
    assert.equal(error.name, 'KazashiError');
    assert.equal(error.code, code, `${what}: ${error.message}`);
    return true;
  });
}

function commandClaims(overrides = {}) {
  return {
    iss: PROVIDER,
    aud: SERVER,
    jti: 'cmd-1',
    iat: NOW,
    exp: NOW + 300,
    sub: 'chip-1',
    ops: [
      { op: 'put', record: 'resident-id', data: b64(utf8('Yamada Taro')) },
      { op: 'get', record: 'resident-id' },
      { op: 'add', counter: 'points', amount: 10 },
      { op: 'keygen', key: 'cert' },
      { op: 'apdu', aid: 'A000000062', capdu: '00A4040000' },
    ],
    ...overrides,
  };
}

function resultClaims(overrides = {}) {
  return {
    iss: SERVER,
    aud: PROVIDER,
    jti: 'txn-1',
    cmd: 'cmd-1',
    iat: NOW,
    chip: 'chip-1',
    status: 'ok',
    results: [{ status: 'ok', value: 7 }, { status: 'skipped' }],
    ...overrides,
  };
}

module.exports = {
  A3_JWK, A3_PUBLIC, A3_TOKEN, BOB_JWK, BOB_PUBLIC, SERVER, PROVIDER, NOW,
  b64, utf8, forgeJws, replacePart, rejectsWith, commandClaims, resultClaims,
};
