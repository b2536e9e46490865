// A kazashi-server for the tests: a temporary data directory, a provider whose keys are made
// with the package itself, chips personalized with `kazashi-server chip personalize --state`,
// the server on a free loopback port. The binary is $KAZASHI_SERVER (set by `cargo xtask sdk
// test`), else the repository's target/release or target/debug build.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';

export const PROVIDER = 'city-hall';

export function serverBinary() {
  if (process.env.KAZASHI_SERVER) return process.env.KAZASHI_SERVER;
  // The scratch project lives in <repo>/target/sdk-tests.
  for (const profile of ['release', 'debug']) {
    const candidate = resolve(process.cwd(), '..', profile, 'kazashi-server');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('kazashi-server not found: set KAZASHI_SERVER or build it (cargo build --release -p kazashi-server)');
}

export async function freePort() {
  return new Promise((done, fail) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
    s.on('error', fail);
  });
}

/**
 * Starts a server with `chips` personalized chips. `kazashi` is the package (for keys and
 * sealing). Returns what a test needs; `stop()` ends the server and removes the data.
 */
export async function startServer(kazashi, { chips = 1 } = {}) {
  const binary = serverBinary();
  const dir = mkdtempSync(join(tmpdir(), 'kazashi-sdk-'));
  const cli = (args) => {
    const out = spawnSync(binary, [...args, '--data-dir', dir], { encoding: 'utf8' });
    assert.equal(out.status, 0, `kazashi-server ${args.join(' ')}: ${out.stderr}`);
    return out.stdout.trim();
  };
  const { privateJwk, publicJwk } = await kazashi.generateKeyPair();
  writeFileSync(join(dir, 'provider.jwks'), JSON.stringify({ keys: [{ ...publicJwk, use: 'sig', alg: 'ES256' }] }));
  cli(['provider', 'add', '--id', PROVIDER, '--jwks', join(dir, 'provider.jwks')]);
  const chipList = [];
  for (let i = 0; i < chips; i++) {
    const file = join(dir, `chip-${i}.json`);
    const id = cli(['chip', 'personalize', '--state', file]);
    chipList.push({ id, state: readFileSync(file, 'utf8') });
  }

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(binary, ['serve', '--data-dir', dir, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  let serverKeys;
  for (let i = 0; i < 400 && !serverKeys; i++) {
    try {
      serverKeys = await kazashi.fetchServerKeys(`${base}/.well-known/kazashi`);
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  if (!serverKeys) {
    child.kill('SIGKILL');
    throw new Error('kazashi-server did not start');
  }
  const serverEncKey = serverKeys.keys.find((k) => k.use === 'enc');

  /** Seals a command with the provider's key and registers it: `{ id, launchUrl, claims }`. */
  async function register(ops, { sub, lifetime = 120 } = {}) {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: PROVIDER, aud: serverKeys.issuer, jti: `cmd-${randomUUID()}`,
      iat: now, exp: now + lifetime, ...(sub ? { sub } : {}), ops,
    };
    const sealed = await kazashi.sealCommand(claims, { providerKey: privateJwk, serverKey: serverEncKey });
    const response = await fetch(`${base}/v1/transactions`, {
      method: 'POST', headers: { 'content-type': 'application/jose' }, body: sealed,
    });
    const body = await response.json();
    assert.equal(response.status, 201, JSON.stringify(body));
    return { id: body.id, launchUrl: body.launch_url, claims };
  }

  /** Verifies a result token against this server and the command. */
  function verify(token, claims) {
    return kazashi.verifyResult(token, {
      serverKeys, issuer: serverKeys.issuer, audience: PROVIDER, command: claims.jti,
    });
  }

  return {
    base, dir, chips: chipList, serverKeys, providerKey: privateJwk, register, verify,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Ops that exercise every kind the applet has but raw APDUs. */
export function sampleOps(text = '山田太郎 / 1970-01-01') {
  return [
    { op: 'put', record: 'resident-id', data: Buffer.from(text).toString('base64url') },
    { op: 'get', record: 'resident-id' },
    { op: 'add', counter: 'points', amount: 120 },
    { op: 'keygen', key: 'resident-key' },
  ];
}
