// The online flow end to end, as a provider that uses ONLY the npm package `jose` (no kazashi
// code) would run it: build and seal a command, register it with kazashi-server, let the
// desktop common app (kazashi-relay) run it against a virtual chip, verify the signed result.
// The binaries come from target/release (`cargo xtask test` builds them first).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = (name) => process.env[`KAZASHI_${name.toUpperCase().replace('-', '_')}`] ?? join(root, 'target', 'release', name);
const dir = mkdtempSync(join(tmpdir(), 'kazashi-e2e-'));
const PROVIDER = 'city-hall';

function run(program, args) {
  const out = spawnSync(bin(program), args, { encoding: 'utf8' });
  assert.equal(out.status, 0, `${program} ${args.join(' ')}: ${out.stderr}`);
  return out.stdout.trim();
}

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const provider = await jose.generateKeyPair('ES256', { extractable: true });
const providerJwk = await jose.exportJWK(provider.publicKey);
const providerKid = await jose.calculateJwkThumbprint(providerJwk);
writeFileSync(join(dir, 'provider.jwks'), JSON.stringify({ keys: [{ ...providerJwk, kid: providerKid, use: 'sig', alg: 'ES256' }] }));
run('kazashi-server', ['provider', 'add', '--id', PROVIDER, '--jwks', join(dir, 'provider.jwks'), '--data-dir', dir]);
const chipState = join(dir, 'chip.json');
const chip = run('kazashi-server', ['chip', 'personalize', '--state', chipState, '--data-dir', dir]);

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const server = spawn(bin('kazashi-server'), ['serve', '--data-dir', dir, '--listen', `127.0.0.1:${port}`], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { ...process.env, RUST_LOG: 'warn' },
});
after(() => {
  server.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

async function discover() {
  for (let i = 0; i < 200; i++) {
    try {
      const meta = await (await fetch(`${base}/.well-known/kazashi`)).json();
      const jwks = await (await fetch(meta.jwks_uri)).json();
      return { meta, jwks };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error('kazashi-server did not start');
}

test('a jose-only provider: sealed command, common app, verified result', async () => {
  const { meta, jwks } = await discover();
  const encJwk = jwks.keys.find((k) => k.use === 'enc');
  const encKey = await jose.importJWK(encJwk, 'ECDH-ES+A256KW');

  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: PROVIDER, aud: meta.issuer, jti: `cmd-${now}-${Math.random().toString(36).slice(2)}`,
    iat: now, exp: now + 120, sub: chip,
    ops: [
      { op: 'put', record: 'resident-id', data: jose.base64url.encode('山田太郎 / 1970-01-01') },
      { op: 'get', record: 'resident-id' },
      { op: 'add', counter: 'points', amount: 120 },
      { op: 'keygen', key: 'resident-key' },
    ],
  };
  const jws = await new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: 'kazashi-command+jwt', kid: providerKid })
    .sign(provider.privateKey);
  const sealed = await new jose.CompactEncrypt(new TextEncoder().encode(jws))
    .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty: 'JWT', kid: encJwk.kid })
    .encrypt(encKey);

  const response = await fetch(meta.transactions_endpoint, {
    method: 'POST', headers: { 'content-type': 'application/jose' }, body: sealed,
  });
  assert.equal(response.status, 201);
  const { id, launch_url: launchUrl } = await response.json();

  // The common app: holds no keys, prints the result token.
  const relay = spawnSync(bin('kazashi-relay'), ['run', launchUrl, '--virtual', chipState], { encoding: 'utf8' });
  assert.equal(relay.status, 0, relay.stderr);
  assert.match(relay.stderr, /1 exchange/);
  const token = relay.stdout.trim();

  const { payload, protectedHeader } = await jose.jwtVerify(token, jose.createLocalJWKSet(jwks), {
    algorithms: ['ES256'], typ: 'kazashi-result+jwt', issuer: meta.issuer, audience: PROVIDER,
  });
  assert.equal(protectedHeader.kid, jwks.keys.find((k) => k.use === 'sig').kid);
  assert.equal(payload.cmd, claims.jti);
  assert.equal(payload.jti, id);
  assert.equal(payload.chip, chip);
  assert.equal(payload.status, 'ok');
  assert.equal(new TextDecoder().decode(jose.base64url.decode(payload.results[1].data)), '山田太郎 / 1970-01-01');
  assert.equal(payload.results[2].value, 120);
  assert.equal(payload.results[3].jwk.crv, 'P-256');

  // The provider can also fetch it.
  const fetched = await fetch(`${base}/v1/transactions/${id}/result`);
  assert.equal(fetched.status, 200);
  assert.equal(await fetched.text(), token);
});
