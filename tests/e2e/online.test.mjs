// The online flow end to end, as a provider that uses ONLY the npm package `jose` (no kazashi
// code) would run it: build and seal a command, register it with kazashi-server, let the
// desktop common app (kazashi-relay) run it against a virtual chip, verify the signed result.
// Twice: the common app holding the virtual chip in its own process (`--virtual`), and talking
// to it through real PC/SC (`--reader`: a private pcscd whose vpcd driver `kazashi-se serve`
// connects to). The binaries come from target/release (`cargo xtask test` builds them first).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync } from 'node:fs';
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

// What the provider does, whichever way the common app reaches the chip: seal, register, hand
// the launch URL to `runRelay`, verify what it printed with jose.
async function providerTransaction(label, runRelay) {
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
      { op: 'add', counter: 'points', amount: 1 },
      // One key per transaction: the chip refuses to overwrite a key (6A89).
      { op: 'keygen', key: `resident-key${label.replace(/[^a-z]/g, '')}` },
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
  const relay = await runRelay(launchUrl);
  assert.equal(relay.status, 0, `${label}: ${relay.stderr}`);
  assert.match(relay.stderr, /1 exchange/);
  const token = relay.stdout.trim();

  const { payload, protectedHeader } = await jose.jwtVerify(token, jose.createLocalJWKSet(jwks), {
    algorithms: ['ES256'], typ: 'kazashi-result+jwt', issuer: meta.issuer, audience: PROVIDER,
  });
  assert.equal(protectedHeader.kid, jwks.keys.find((k) => k.use === 'sig').kid);
  assert.equal(payload.cmd, claims.jti);
  assert.equal(payload.jti, id);
  assert.equal(payload.chip, chip);
  assert.equal(payload.status, 'ok', JSON.stringify(payload));
  assert.equal(new TextDecoder().decode(jose.base64url.decode(payload.results[1].data)), '山田太郎 / 1970-01-01');
  assert.equal(payload.results[2].value, ++points);
  assert.equal(payload.results[3].jwk.crv, 'P-256');

  // The provider can also fetch it.
  const fetched = await fetch(`${base}/v1/transactions/${id}/result`);
  assert.equal(fetched.status, 200);
  assert.equal(await fetched.text(), token);
}

// The chip's points counter, as the transactions so far left it.
let points = 0;

test('a jose-only provider: sealed command, common app with the chip in its process, verified result', async () => {
  await providerTransaction('--virtual', async (launchUrl) =>
    spawnSync(bin('kazashi-relay'), ['run', launchUrl, '--virtual', chipState], { encoding: 'utf8' }));
});

test('a jose-only provider: sealed command, common app through pcscd and vpcd (--reader), verified result', async (t) => {
  if (!havePcscd()) {
    if (process.env.KAZASHI_SKIP_PCSC === '1') return t.skip('KAZASHI_SKIP_PCSC=1');
    assert.fail('pcscd or the vpcd driver is missing: run `cargo xtask test`, which installs them');
  }
  const pcsc = await startPcscd(join(dir, 'pcscd'));
  const card = spawn(bin('kazashi-se'), ['serve', '--state', chipState, '--vpcd', `127.0.0.1:${pcsc.port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let cardLog = '';
  card.stderr.on('data', (chunk) => (cardLog += chunk));
  t.after(() => {
    card.kill('SIGKILL');
    pcsc.stop();
  });
  await providerTransaction('--reader', async (launchUrl) => {
    // vpcd connects the card a moment after pcscd loads the driver: retry while the reader or
    // its card is not there yet (nothing has reached the chip then).
    const deadline = Date.now() + 20_000;
    for (;;) {
      const out = await spawnAsync(bin('kazashi-relay'), ['run', launchUrl, '--reader', 'Virtual PCD 00 00'], {
        PCSCLITE_CSOCK_NAME: pcsc.socket,
      });
      if (out.status === 0 || Date.now() > deadline || !/reader/i.test(out.stderr)) {
        if (out.status !== 0) out.stderr += `\nkazashi-se: ${cardLog}\npcscd: ${pcsc.log()}`;
        return out;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  });
});

// Runs a program to its end without blocking the event loop (the card server answers from it).
function spawnAsync(program, args, env) {
  return new Promise((resolve) => {
    const child = spawn(program, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so';

function havePcscd() {
  const which = spawnSync('sh', ['-c', 'command -v pcscd'], { encoding: 'utf8' });
  return which.status === 0 && existsSync(VPCD_DRIVER);
}

// Two consecutive free ports: vpcd listens on PORT (slot 0) and PORT + 1.
async function freePortPair() {
  for (let i = 0; i < 50; i++) {
    const port = await freePort();
    if (port < 65535 && (await portFree(port + 1))) return port;
  }
  throw new Error('no two consecutive free TCP ports');
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

// A private pcscd, as se/tests/common/procs.rs starts one: its own client socket by systemd
// socket activation (a system pcscd is untouched) and its own vpcd port. Python binds the
// socket, puts it at fd 3 (inheritable) and execs pcscd with LISTEN_PID naming itself.
async function startPcscd(home) {
  mkdirSync(join(home, 'reader.conf.d'), { recursive: true });
  const port = await freePortPair();
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  writeFileSync(join(home, 'reader.conf.d', 'vpcd'),
    `FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:0x${hex}\nLIBPATH      ${VPCD_DRIVER}\nCHANNELID    0x${hex}\n`);
  const socket = join(home, 'pcscd.comm');
  const logFile = join(home, 'pcscd.log');
  const activate = [
    'import os, socket, sys',
    's = socket.socket(socket.AF_UNIX)',
    's.bind(sys.argv[1])',
    's.listen(16)',
    // The socket may already be fd 3, where dup2 is a no-op that keeps close-on-exec.
    'os.dup2(s.fileno(), 3)',
    'os.set_inheritable(3, True)',
    'os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1")',
    'os.execvp("pcscd", ["pcscd", "-f", "-c", sys.argv[2]])',
  ].join('\n');
  const { openSync } = await import('node:fs');
  const log = openSync(logFile, 'a');
  const child = spawn('python3', ['-c', activate, socket, join(home, 'reader.conf.d')], {
    stdio: ['ignore', log, log],
  });
  // pcscd has loaded vpcd when vpcd's port is taken.
  const deadline = Date.now() + 10_000;
  while (await portFree(port)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`pcscd did not open vpcd's port ${port}: ${readFileSync(logFile, 'utf8')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    socket,
    log: () => readFileSync(logFile, 'utf8'),
    stop: () => child.kill('SIGTERM'),
  };
}
