// Generates the fixed `jose` (npm) vectors in protocol/tests/jose_interop.rs, and checks
// tokens produced by kazashi-protocol (read as JSON on stdin, if any) with jose.
//
//   cd /tmp/josejs && npm install jose
//   node generate.mjs            # print fresh jose tokens
//   node generate.mjs < ours.json  # also verify/decrypt kazashi's tokens
import * as jose from 'jose';
import { readFileSync } from 'node:fs';

// RFC 7515 Appendix A.3 key (signing).
const A3 = {
  kty: 'EC', crv: 'P-256',
  x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
  y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
  d: 'jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI',
};
// RFC 7518 Appendix C, Bob's key (encryption).
const BOB = {
  kty: 'EC', crv: 'P-256',
  x: 'weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ',
  y: 'e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck',
  d: 'VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw',
};
const pub = ({ d, ...k }) => k;

const out = { version: JSON.parse(readFileSync(new URL(import.meta.resolve('jose/package.json')))).version };
out.thumbprint_a3 = await jose.calculateJwkThumbprint(pub(A3), 'sha256');
out.thumbprint_bob = await jose.calculateJwkThumbprint(pub(BOB), 'sha256');

const signKey = await jose.importJWK(A3, 'ES256');
const payload = new TextEncoder().encode('{"iss":"provider-1","jti":"jose-1"}');
out.jws = await new jose.CompactSign(payload)
  .setProtectedHeader({ alg: 'ES256', typ: 'kazashi-command+jwt', kid: out.thumbprint_a3 })
  .sign(signKey);

const bobPub = await jose.importJWK(pub(BOB), 'ECDH-ES+A256KW');
const plaintext = new TextEncoder().encode('sealed by jose');
out.jwe_kw = await new jose.CompactEncrypt(plaintext)
  .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty: 'JWT', kid: out.thumbprint_bob })
  .encrypt(bobPub);
out.jwe_direct = await new jose.CompactEncrypt(plaintext)
  .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM' })
  .encrypt(bobPub);
out.jwe_kw_apu = await new jose.CompactEncrypt(plaintext)
  .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM' })
  .setKeyManagementParameters({ apu: new TextEncoder().encode('Alice'), apv: new TextEncoder().encode('Bob') })
  .encrypt(bobPub);
console.log(JSON.stringify(out, null, 2));

// Tokens from kazashi-protocol, if given.
let ours = '';
try { ours = readFileSync(0, 'utf8'); } catch {}
if (ours.trim()) {
  const t = JSON.parse(ours);
  const signPub = await jose.importJWK(pub(A3), 'ES256');
  for (const name of Object.keys(t).filter((n) => n.startsWith('jws'))) {
    const r = await jose.compactVerify(t[name], signPub, { algorithms: ['ES256'] });
    console.error(name, 'verified by jose:', JSON.stringify(r.protectedHeader), new TextDecoder().decode(r.payload));
  }
  const bobPriv = await jose.importJWK(BOB, 'ECDH-ES');
  for (const name of Object.keys(t).filter((n) => n.startsWith('jwe'))) {
    const r = await jose.compactDecrypt(t[name], bobPriv);
    console.error(name, 'decrypted by jose:', JSON.stringify(r.protectedHeader), new TextDecoder().decode(r.plaintext));
  }
}
