// The package in Chromium (Debian's `chromium`, driven by npm `playwright-core`): a page
// bundled by Vite and a plain `<script type="module">` page each generate keys, sign, verify,
// seal, and run a whole transaction — registered with a kazashi-server on another origin
// (CORS), relayed by `Relay` to a `VirtualSecureElement`, its result verified.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { build } from 'vite';
import * as kazashi from 'kazashi';
import { startServer, PROVIDER } from './server.mjs';
import { serveStatic } from './static-server.mjs';
import helpers from './helpers.cjs';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.KAZASHI_CHROMIUM ?? '/usr/bin/chromium';
const { A3_JWK, A3_PUBLIC, SERVER, NOW, forgeJws, resultClaims } = helpers;

let server;
let pages;
let browser;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium)`);
  await build({
    root: here,
    base: './',
    logLevel: 'warn',
    build: {
      outDir: join(here, 'dist-vite'),
      emptyOutDir: true,
      rollupOptions: { input: join(here, 'browser-vite.html') },
    },
  });
  server = await startServer(kazashi, { chips: 2 });
  pages = await serveStatic(here);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await pages?.close();
  await server?.stop();
});

const verifyParams = () => ({
  token: forgeJws(
    JSON.stringify({ alg: 'ES256', typ: 'kazashi-result+jwt', kid: 'server-sig' }),
    JSON.stringify(resultClaims()),
    A3_JWK,
  ),
  options: {
    serverKeys: { keys: [{ ...A3_PUBLIC, kid: 'server-sig', use: 'sig' }] },
    issuer: SERVER, audience: 'city-hall', command: 'cmd-1', now: NOW,
  },
});

async function check(path, chipIndex) {
  const page = await browser.newPage();
  const problems = [];
  const requests = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`));
  page.on('request', (request) => requests.push(request.url()));
  page.on('response', (response) => response.status() >= 400 && problems.push(`HTTP ${response.status()} ${response.url()}`));
  try {
    await page.goto(`${pages.origin}/${path}`);
    await page.waitForFunction(() => window.kazashiReady === true, null, { timeout: 30_000 });

    const verified = await page.evaluate((params) => window.verifyOnly(params), verifyParams());
    assert.deepEqual(verified, { status: 'ok', refused: { isKazashiError: true, code: 'wrong_audience' } });
    const wasm = () => requests.filter((url) => url.endsWith('.wasm')).map((url) => url.split('/').pop());
    assert.equal(wasm().length, 1, `the main entry alone loads one wasm module: ${wasm()}`);
    assert.ok(!wasm().some((name) => /relay|testing/.test(name)), 'neither the relay nor the testing module');

    const chip = server.chips[chipIndex];
    const outcome = await page.evaluate((params) => window.runScenario(params), {
      base: server.base, provider: PROVIDER, providerKey: server.providerKey, chipState: chip.state,
    });
    assert.deepEqual(outcome.signed, { typ: 'kazashi-command+jwt', kid: true, jti: true });
    assert.equal(outcome.registered, 201);
    assert.equal(outcome.status, 'ok', JSON.stringify(outcome.results));
    assert.equal(outcome.results[1].data, 'S2F6YXNoaQ');
    assert.equal(outcome.results[2].value, 7);
    assert.equal(outcome.chip, true);
    assert.ok(outcome.events.apdu > 10 && outcome.events.http === 2 && outcome.events.phase >= 4, JSON.stringify(outcome.events));
    assert.equal(outcome.disposed, 'disposed');
    // The relay and kazashi/testing bring their own modules, loaded when first used.
    assert.equal(wasm().length, 3, `${wasm()}`);
    assert.ok(wasm().some((name) => name.includes('relay')), `${wasm()}`);
    assert.ok(wasm().some((name) => name.includes('testing')), `${wasm()}`);
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
  }
}

test('Chromium, a page bundled by Vite: keys, sign, seal, verify, a relayed transaction', async () => {
  await check('dist-vite/browser-vite.html', 0);
});

test('Chromium, a plain <script type="module"> page: the same', async () => {
  await check('browser-plain.html', 1);
});
