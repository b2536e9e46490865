// The protocol's negative corpus (protocol/tests/jose_negative.rs, protocol/tests/envelope.rs)
// through the package: every case rejects with a KazashiError carrying the protocol's code.
// Command-side refusals that only the server reaches (`not_sealed`, `not_yet_valid`,
// `lifetime_too_long`: open_command) are not exposed by the package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as jose from 'jose';
import h from './helpers.cjs';

/** Registers the corpus for one entry of the package (`kazashi` or `kazashi/rustcrypto`). */
export default async function register(kazashi, label) {
  const { KazashiError } = kazashi;
  const PAYLOAD = '{"iss":"joe"}';
  const rejects = (promise, code, what) => h.rejectsWith(promise, KazashiError, code, what);
  const jwsErr = (header, code) => rejects(kazashi.compactVerify(h.forgeJws(header, PAYLOAD), h.A3_PUBLIC), code, header);

  test(`${label}: JWS: algorithms off the allow-list`, async () => {
    for (const alg of ['none', 'None', 'NONE', 'HS256', 'HS512', 'RS256', 'PS256', 'ES384', 'ES512', 'EdDSA', 'es256', 'ES256 ', '']) {
      await jwsErr(`{"alg":"${alg}"}`, 'unsupported_algorithm');
    }
    const none = `${h.b64(h.utf8('{"alg":"none"}'))}.${h.b64(h.utf8(PAYLOAD))}.`;
    await rejects(kazashi.compactVerify(none, h.A3_PUBLIC), 'unsupported_algorithm');
  });

  test(`${label}: JWS: missing or mistyped header members`, async () => {
    await jwsErr('{}', 'missing_header');
    await jwsErr('{"typ":"JWT"}', 'missing_header');
    for (const header of ['{"alg":null}', '{"alg":["ES256"]}', '{"alg":"ES256","typ":1}', '{"alg":"ES256","kid":{}}',
      '{"alg":"ES256","cty":false}', '{"alg":"ES256","crit":[]}', '{"alg":"ES256","crit":"exp"}', '{"alg":"ES256","b64":"false"}']) {
      await jwsErr(header, 'invalid_header');
    }
  });

  test(`${label}: JWS: crit, zip, b64`, async () => {
    await jwsErr('{"alg":"ES256","crit":["exp"],"exp":1}', 'unknown_critical');
    await jwsErr('{"alg":"ES256","crit":["b64"],"b64":false}', 'unknown_critical');
    await jwsErr('{"alg":"ES256","zip":"DEF"}', 'zip_not_supported');
    await jwsErr('{"alg":"ES256","b64":false}', 'unencoded_payload');
    await kazashi.compactVerify(h.forgeJws('{"alg":"ES256","b64":true}', PAYLOAD), h.A3_PUBLIC);
  });

  test(`${label}: JWS: header JSON`, async () => {
    await jwsErr('{"alg":"ES256","alg":"ES256"}', 'duplicate_member');
    await jwsErr('{"alg":"none","alg":"ES256"}', 'duplicate_member');
    await jwsErr('{"alg":"ES256","x":{"a":1,"a":2}}', 'duplicate_member');
    await jwsErr('["alg","ES256"]', 'not_an_object');
    await jwsErr('"ES256"', 'not_an_object');
    await jwsErr('{"alg":"ES256"', 'invalid_json');
    await jwsErr('', 'invalid_json');
    await jwsErr(Buffer.from('{"alg":"ES256","typ":"\xc3\x28"}', 'latin1'), 'invalid_utf8');
    await jwsErr(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), h.utf8('{"alg":"ES256"}')]), 'invalid_json');
  });

  test(`${label}: JWS: wrong number of parts, and a JWE is not a JWS`, async () => {
    const good = h.forgeJws('{"alg":"ES256"}', PAYLOAD);
    const [p0, p1, p2] = good.split('.');
    for (const token of ['', '.', p0, `${p0}.${p1}`, `${good}.`, `${good}.${p2}`, `${good}..`]) {
      await rejects(kazashi.compactVerify(token, h.A3_PUBLIC), 'invalid_compact', token);
    }
    const jwe = await new jose.CompactEncrypt(h.utf8('x')).setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM' })
      .encrypt(await jose.importJWK(h.A3_PUBLIC, 'ECDH-ES'));
    await rejects(kazashi.compactVerify(jwe, h.A3_PUBLIC), 'invalid_compact');
  });

  test(`${label}: JWS: signature lengths and values`, async () => {
    const good = h.forgeJws('{"alg":"ES256"}', PAYLOAD);
    const sig = Buffer.from(good.split('.')[2], 'base64url');
    for (const bad of [sig.subarray(0, 63), Buffer.concat([sig, Buffer.from([0])]), Buffer.alloc(0), sig.subarray(0, 32)]) {
      await rejects(kazashi.compactVerify(h.replacePart(good, 2, h.b64(bad)), h.A3_PUBLIC), 'invalid_signature_length', `${bad.length}`);
    }
    // The same signature as DER.
    const derSig = (() => {
      const int = (b) => { let i = 0; while (i < 31 && b[i] === 0) i++; b = b.subarray(i); return b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b; };
      const r = int(sig.subarray(0, 32)); const s = int(sig.subarray(32));
      return Buffer.concat([Buffer.from([0x30, r.length + s.length + 4, 2, r.length]), r, Buffer.from([2, s.length]), s]);
    })();
    await rejects(kazashi.compactVerify(h.replacePart(good, 2, h.b64(derSig)), h.A3_PUBLIC), 'invalid_signature_length');
    for (const byte of [0, 0xff]) {
      await rejects(kazashi.compactVerify(h.replacePart(good, 2, h.b64(Buffer.alloc(64, byte))), h.A3_PUBLIC), 'invalid_signature');
    }
  });

  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const setTrailingBit = (part) => part.slice(0, -1) + ALPHABET[ALPHABET.indexOf(part.at(-1)) | 1];

  test(`${label}: JWS: strict base64url`, async () => {
    const good = h.forgeJws('{"alg":"ES256"}', PAYLOAD);
    const parts = good.split('.');
    for (const [index, part] of parts.entries()) {
      const padded = part + ['====', '', '==', '='][part.length % 4];
      for (const bad of [padded, `+${part.slice(1)}`, `/${part.slice(1)}`, `${part} `]) {
        await rejects(kazashi.compactVerify(h.replacePart(good, index, bad), h.A3_PUBLIC), 'invalid_base64', `part ${index}: ${bad}`);
      }
    }
    const spaced = h.forgeJws('{"alg":"ES256" }', PAYLOAD);
    await kazashi.compactVerify(spaced, h.A3_PUBLIC);
    for (const index of [0, 2]) {
      const token = h.replacePart(spaced, index, setTrailingBit(spaced.split('.')[index]));
      await rejects(kazashi.compactVerify(token, h.A3_PUBLIC), 'invalid_base64', `non-canonical part ${index}`);
    }
  });

  test(`${label}: token size limit (256 KiB), checked before copying`, async () => {
    const huge = 'a'.repeat(256 * 1024 + 1);
    await rejects(kazashi.compactVerify(huge, h.A3_PUBLIC), 'token_too_large');
    await rejects(kazashi.compactDecrypt(huge, h.BOB_JWK), 'token_too_large');
    await rejects(kazashi.verifyResult(huge, { serverKeys: { keys: [] }, issuer: 'a', audience: 'b' }), 'token_too_large');
    await rejects(kazashi.compactVerify(new Uint8Array(256 * 1024 + 1), h.A3_PUBLIC), 'token_too_large');
    await rejects(kazashi.compactVerify('a'.repeat(64 * 1024 * 1024), h.A3_PUBLIC), 'token_too_large');
  });

  // --- JWE -------------------------------------------------------------------------------------

  async function sealed(alg) {
    return new jose.CompactEncrypt(h.utf8('negative corpus')).setProtectedHeader({ alg, enc: 'A256GCM' })
      .encrypt(await jose.importJWK(h.BOB_PUBLIC, alg));
  }
  const KW = 'ECDH-ES+A256KW';
  const DIRECT = 'ECDH-ES';

  /** A sealed token with its protected header replaced; `EPK` in `header` is its epk. */
  async function withHeader(alg, header) {
    const token = await sealed(alg);
    const epk = JSON.parse(Buffer.from(token.split('.')[0], 'base64url')).epk;
    const text = typeof header === 'string' ? header.replace('EPK', JSON.stringify(epk)) : header;
    return h.replacePart(token, 0, h.b64(typeof text === 'string' ? h.utf8(text) : text));
  }
  const jweErr = async (header, code, alg = KW) => rejects(kazashi.compactDecrypt(await withHeader(alg, header), h.BOB_JWK), code, header);

  test(`${label}: JWE: algorithms and required members`, async () => {
    for (const alg of ['none', 'dir', 'RSA-OAEP', 'RSA1_5', 'A256KW', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-1PU', 'ecdh-es']) {
      await jweErr(`{"alg":"${alg}","enc":"A256GCM","epk":EPK}`, 'unsupported_algorithm');
    }
    for (const enc of ['A128GCM', 'A192GCM', 'A256CBC-HS512', 'A128CBC-HS256', 'a256gcm']) {
      await jweErr(`{"alg":"ECDH-ES+A256KW","enc":"${enc}","epk":EPK}`, 'unsupported_encryption');
    }
    await jweErr('{"enc":"A256GCM","epk":EPK}', 'missing_header');
    await jweErr('{"alg":"ECDH-ES+A256KW","epk":EPK}', 'missing_header');
    await jweErr('{"alg":"ECDH-ES+A256KW","enc":"A256GCM"}', 'missing_header');
    await jweErr('{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":EPK,"apu":"QQ=="}', 'invalid_header');
    await jweErr('{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":EPK,"apv":7}', 'invalid_header');
    // The unchanged header decrypts.
    const ok = await withHeader(KW, '{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":EPK}');
    assert.equal(new TextDecoder().decode((await kazashi.compactDecrypt(ok, h.BOB_JWK)).plaintext), 'negative corpus');
  });

  test(`${label}: JWE: zip, crit, duplicates, UTF-8`, async () => {
    await jweErr('{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":EPK,"zip":"DEF"}', 'zip_not_supported');
    await jweErr('{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":EPK,"crit":["x"],"x":1}', 'unknown_critical');
    await jweErr('{"alg":"ECDH-ES+A256KW","enc":"A256GCM","enc":"A256GCM","epk":EPK}', 'duplicate_member');
    await jweErr('{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{"kty":"EC","kty":"EC"}}', 'duplicate_member');
    await jweErr('[1]', 'not_an_object');
    await jweErr(Buffer.from('{"alg":"\xff"}', 'latin1'), 'invalid_utf8');
  });

  test(`${label}: JWE: invalid epk`, async () => {
    const zero = h.b64(Buffer.alloc(32));
    const x = 'gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0';
    const y = 'SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps';
    const yBytes = Buffer.from(y, 'base64url'); yBytes[31] ^= 1;
    const offCurveY = h.b64(yBytes);
    const prime = h.b64(Buffer.from('ffffffff00000001000000000000000000000000ffffffffffffffffffffffff', 'hex'));
    const epks = [
      `{"kty":"EC","crv":"P-256","x":"${zero}","y":"${zero}"}`,
      `{"kty":"EC","crv":"P-256","x":"${x}","y":"${offCurveY}"}`,
      `{"kty":"EC","crv":"P-256","x":"${prime}","y":"${y}"}`,
      `{"kty":"EC","crv":"P-256","x":"${h.b64(Buffer.alloc(31, 1))}","y":"${y}"}`,
      `{"kty":"EC","crv":"P-256","x":"${h.b64(Buffer.concat([Buffer.alloc(1), Buffer.from(x, 'base64url')]))}","y":"${y}"}`,
      `{"kty":"EC","crv":"P-256","x":"${x}","y":"${h.b64(Buffer.alloc(33, 1))}"}`,
      `{"kty":"OKP","crv":"P-256","x":"${x}","y":"${y}"}`,
      `{"kty":"EC","crv":"P-384","x":"${x}","y":"${y}"}`,
      `{"kty":"EC","crv":"secp256k1","x":"${x}","y":"${y}"}`,
      `{"kty":"EC","x":"${x}","y":"${y}"}`,
      `{"kty":"EC","crv":"P-256","x":"${x}"}`,
      `{"crv":"P-256","x":"${x}","y":"${y}"}`,
      `{"kty":"EC","crv":"P-256","x":"${x}=","y":"${y}"}`,
      `{"kty":"EC","crv":"P-256","x":7,"y":"${y}"}`,
      `{"kty":"EC","crv":"P-256","x":"${x}","y":"${y}","d":"0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo"}`,
      '"EC"', 'null', '[]',
    ];
    for (const epk of epks) await jweErr(`{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":${epk}}`, 'invalid_epk');
    await jweErr(`{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{"kty":"EC","crv":"P-256","x":"${x}","y":"${y}"}}`, 'decryption_failed');
  });

  test(`${label}: JWE: part lengths`, async () => {
    const kw = await sealed(KW);
    const direct = await sealed(DIRECT);
    for (const [token, key] of [[direct, Buffer.alloc(40)], [direct, Buffer.alloc(1)], [kw, Buffer.alloc(0)], [kw, Buffer.alloc(32)], [kw, Buffer.alloc(48)]]) {
      await rejects(kazashi.compactDecrypt(h.replacePart(token, 1, h.b64(key)), h.BOB_JWK), 'invalid_encrypted_key');
    }
    for (const token of [kw, direct]) {
      for (const iv of [0, 11, 13, 16]) {
        await rejects(kazashi.compactDecrypt(h.replacePart(token, 2, h.b64(Buffer.alloc(iv))), h.BOB_JWK), 'invalid_iv', `iv ${iv}`);
      }
      for (const tag of [0, 12, 15, 17]) {
        await rejects(kazashi.compactDecrypt(h.replacePart(token, 4, h.b64(Buffer.alloc(tag))), h.BOB_JWK), 'invalid_tag', `tag ${tag}`);
      }
      await rejects(kazashi.compactDecrypt(h.replacePart(token, 3, ''), h.BOB_JWK), 'decryption_failed');
    }
  });

  test(`${label}: JWE: structure and base64`, async () => {
    const kw = await sealed(KW);
    const parts = kw.split('.');
    for (const token of [parts.slice(0, 4).join('.'), `${kw}.`, parts.slice(0, 3).join('.'), '', '......']) {
      await rejects(kazashi.compactDecrypt(token, h.BOB_JWK), 'invalid_compact', token);
    }
    await rejects(kazashi.compactDecrypt(h.forgeJws('{"alg":"ES256"}', PAYLOAD), h.BOB_JWK), 'invalid_compact');
    for (const [index, part] of parts.entries()) {
      await rejects(kazashi.compactDecrypt(h.replacePart(kw, index, part === '' ? '=' : `${part}=`), h.BOB_JWK), 'invalid_base64', `part ${index}`);
      if (part.length % 4 >= 2 && index !== 0 && index !== 3) {
        // The encrypted key (40 bytes) and the tag (16 bytes) end with trailing bits.
        await rejects(kazashi.compactDecrypt(h.replacePart(kw, index, setTrailingBit(part)), h.BOB_JWK), 'invalid_base64', `non-canonical ${index}`);
      }
      await rejects(kazashi.compactDecrypt(h.replacePart(kw, index, `${part}*`), h.BOB_JWK), 'invalid_base64', `part ${index}*`);
    }
  });

  test(`${label}: JWK validation`, async () => {
    await kazashi.calculateJwkThumbprint(h.A3_PUBLIC);
    const bad = [
      { ...h.A3_PUBLIC, kty: 'RSA' },
      { ...h.A3_PUBLIC, crv: 'P-521' },
      { ...h.A3_PUBLIC, x: 'AAAA' },
      { ...h.A3_PUBLIC, y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1' },
      { ...h.A3_PUBLIC, y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a3' },
      { crv: 'P-256' }, { kty: 1 }, null, 'EC', [h.A3_PUBLIC],
    ];
    for (const jwk of bad) {
      await rejects(kazashi.calculateJwkThumbprint(jwk), 'invalid_key', JSON.stringify(jwk));
      await rejects(kazashi.compactVerify(h.A3_TOKEN, jwk), 'invalid_key', JSON.stringify(jwk));
    }
    // A private key where a public one belongs, and a d that does not match x, y.
    await rejects(kazashi.compactVerify(h.A3_TOKEN, h.A3_JWK), 'invalid_key');
    await rejects(kazashi.signCommand(h.commandClaims(), { ...h.A3_JWK, d: h.BOB_JWK.d }), 'key_mismatch');
    await rejects(kazashi.compactDecrypt(await sealed(KW), { ...h.BOB_JWK, d: h.b64(Buffer.alloc(32)) }), 'invalid_key');
  });

  // --- Envelopes -------------------------------------------------------------------------------

  const serverSig = h.A3_JWK;
  const serverKid = await kazashi.calculateJwkThumbprint(serverSig);
  const providerEnc = h.BOB_JWK;
  const serverKeys = { keys: [{ ...h.A3_PUBLIC, kid: serverKid }] };
  const options = { serverKeys, issuer: h.SERVER, audience: h.PROVIDER, now: h.NOW, maxAge: 600, providerKey: providerEnc };

  async function signResult(claims, header = { typ: 'kazashi-result+jwt', kid: serverKid }, key = serverSig) {
    const payload = typeof claims === 'string' || claims instanceof Uint8Array ? claims : JSON.stringify(claims);
    return h.forgeJws(JSON.stringify({ alg: 'ES256', ...header }), payload, key);
  }
  const providerEncKid = await kazashi.calculateJwkThumbprint(providerEnc);
  async function seal(jws, header = { cty: 'JWT', kid: providerEncKid }) {
    return new jose.CompactEncrypt(h.utf8(jws)).setProtectedHeader({ alg: KW, enc: 'A256GCM', ...header })
      .encrypt(await jose.importJWK(h.BOB_PUBLIC, KW));
  }

  test(`${label}: results: the refusals of the result path`, async () => {
    const good = await signResult(h.resultClaims());
    assert.equal((await kazashi.verifyResult(good, options)).jti, 'txn-1');
    assert.equal((await kazashi.verifyResult(await seal(good), options)).jti, 'txn-1');
    await rejects(kazashi.verifyResult(good, { ...options, command: 'cmd-2' }), 'command_mismatch');
    await rejects(kazashi.verifyResult(good, { ...options, now: h.NOW - 61 }), 'issued_in_future');
    await rejects(kazashi.verifyResult(good, { ...options, now: h.NOW + 661 }), 'expired');
    await rejects(kazashi.verifyResult(await signResult(h.resultClaims({ iss: 'https://evil.test' })), options), 'wrong_issuer');
    await rejects(kazashi.verifyResult(await signResult(h.resultClaims({ aud: 'bank' })), options), 'wrong_audience');
    const stranger = await kazashi.generateKeyPair();
    const strangerKid = stranger.publicJwk.kid;
    await rejects(kazashi.verifyResult(await signResult(h.resultClaims(), { typ: 'kazashi-result+jwt', kid: strangerKid }, stranger.privateJwk), options), 'unknown_key');
    await rejects(kazashi.verifyResult(await seal(good), { ...options, providerKey: undefined }), 'sealed_needs_key');
    await rejects(kazashi.verifyResult(await seal(good, { kid: await kazashi.calculateJwkThumbprint(providerEnc) }), options), 'wrong_content_type');
    // Sealed to another provider's key.
    await rejects(kazashi.verifyResult(await seal(good), { ...options, providerKey: stranger.privateJwk }), 'decryption_failed');
  });

  test(`${label}: results: explicit typing (a command is not a result)`, async () => {
    const asCommand = await kazashi.signCommand(h.commandClaims(), serverSig);
    await rejects(kazashi.verifyResult(asCommand, options), 'wrong_typ');
    await rejects(kazashi.verifyResult(await signResult(h.resultClaims(), { typ: 'JWT', kid: serverKid }), options), 'wrong_typ');
    await rejects(kazashi.verifyResult(await signResult(h.resultClaims(), { kid: serverKid }), options), 'missing_typ');
    await rejects(kazashi.verifyResult(await signResult(h.resultClaims(), { typ: 'kazashi-result+jwt' }), options), 'missing_kid');
    // RFC 7515 §4.1.9: media types compare case-insensitively.
    await kazashi.verifyResult(await signResult(h.resultClaims(), { typ: 'Kazashi-Result+JWT', kid: serverKid }), options);
  });

  test(`${label}: results: schema, duplicates and UTF-8 of the claims`, async () => {
    const text = JSON.stringify(h.resultClaims());
    await rejects(kazashi.verifyResult(await signResult(text.replace('{', '{"jti":"other",')), options), 'duplicate_member');
    await rejects(kazashi.verifyResult(await signResult(Buffer.concat([h.utf8(text), Buffer.from([0xff])])), options), 'invalid_utf8');
    for (const claims of [
      h.resultClaims({ status: 'maybe' }),
      h.resultClaims({ jti: '' }),
      h.resultClaims({ iat: -1 }),
      h.resultClaims({ results: [{ status: 'ok', data: 'AA==' }] }),
      h.resultClaims({ results: Array.from({ length: 65 }, () => ({ status: 'ok' })) }),
      { ...h.resultClaims(), chip: undefined },
    ]) {
      await rejects(kazashi.verifyResult(await signResult(claims), options), 'invalid_claims', JSON.stringify(claims).slice(0, 80));
    }
  });

  test(`${label}: commands: the builders refuse invalid claims`, async () => {
    const base = h.commandClaims();
    const cases = {
      'unknown op': [{ op: 'format' }],
      'extra member': [{ op: 'get', record: 'a', x: 1 }],
      'bad name': [{ op: 'get', record: 'a/b' }],
      'long name': [{ op: 'get', record: 'a'.repeat(33) }],
      'zero amount': [{ op: 'add', counter: 'p', amount: 0 }],
      'huge amount': [{ op: 'add', counter: 'p', amount: 4294967296 }],
      'negative amount': [{ op: 'sub', counter: 'p', amount: -1 }],
      'fractional amount': [{ op: 'sub', counter: 'p', amount: 1.5 }],
      'padded data': [{ op: 'put', record: 'r', data: 'AA==' }],
      'big data': [{ op: 'put', record: 'r', data: h.b64(Buffer.alloc(4097)) }],
      'short aid': [{ op: 'apdu', aid: 'A000', capdu: '00A40400' }],
      'bad capdu': [{ op: 'apdu', aid: 'A000000062', capdu: '00A404000501' }],
      'no ops': [],
      'too many ops': Array.from({ length: 65 }, () => ({ op: 'get', record: 'r' })),
    };
    for (const [name, ops] of Object.entries(cases)) {
      await rejects(kazashi.signCommand({ ...base, ops }, h.A3_JWK), 'invalid_claims', name);
      await rejects(kazashi.sealCommand({ ...base, ops }, { providerKey: h.A3_JWK, serverKey: h.BOB_PUBLIC }), 'invalid_claims', name);
    }
    const { exp, ...missing } = base;
    await rejects(kazashi.signCommand(missing, h.A3_JWK), 'invalid_claims', 'no exp');
    await rejects(kazashi.signCommand({ ...base, exp: base.iat }, h.A3_JWK), 'invalid_claims', 'exp = iat');
    await rejects(kazashi.signCommand({ ...base, iss: 'with space' }, h.A3_JWK), 'invalid_claims', 'iss');
    await rejects(kazashi.signCommand({ ...base, aud: [] }, h.A3_JWK), 'invalid_claims', 'aud []');
  });
}
