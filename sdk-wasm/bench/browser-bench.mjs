// Chromium (Debian's `chromium`, driven by npm `playwright-core`): the time from importing the
// package's browser entry to its first verified result, measured in the page with
// performance.now(). `cargo xtask sdk bench` runs it after bench.mjs. Not asserted anywhere:
// the figures go to docs/performance.md.
//
// Cold: a fresh browser context for every load (empty HTTP cache, no compiled-code cache).
// Warm: the same context reloaded (HTTP cache and V8's code cache may apply). The pages come
// from a static server on loopback, so network time is ~0: this is fetch + compile +
// instantiate + the first call.
import { statSync } from 'node:fs';
import { createPrivateKey, sign } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import * as kazashi from 'kazashi';
import { serveStatic } from './static-server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.KAZASHI_CHROMIUM ?? '/usr/bin/chromium';
const RUNS = Number(process.env.BENCH_BROWSER_RUNS ?? 20);
const b64 = (bytes) => Buffer.from(bytes).toString('base64url');

// A result token signed with a fresh key, as a server would.
const { privateJwk, publicJwk } = await kazashi.generateKeyPair();
const now = Math.floor(Date.now() / 1000);
const claims = {
  iss: 'https://server.kazashi.test', aud: 'city-hall', jti: 'txn-1', cmd: 'cmd-1', iat: now,
  chip: 'chip-1', status: 'ok', results: [{ status: 'ok', value: 17 }],
};
const input = `${b64(JSON.stringify({ alg: 'ES256', typ: 'kazashi-result+jwt', kid: publicJwk.kid }))}.${b64(JSON.stringify(claims))}`;
const signature = sign('sha256', Buffer.from(input), { key: createPrivateKey({ key: privateJwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' });
const params = {
  token: `${input}.${b64(signature)}`,
  options: { serverKeys: { keys: [publicJwk] }, issuer: claims.iss, audience: 'city-hall', command: 'cmd-1', now },
};

const pages = await serveStatic(here);
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
const version = browser.version();
const url = `${pages.origin}/bench.html#${encodeURIComponent(JSON.stringify(params))}`;

async function load(page) {
  await page.goto(url);
  await page.waitForFunction(() => window.benchResult, null, { timeout: 60_000 });
  const result = await page.evaluate(() => window.benchResult);
  if (result.status !== 'ok') throw new Error(`not verified: ${JSON.stringify(result)}`);
  return result;
}

const cold = [];
for (let i = 0; i < RUNS; i++) {
  const context = await browser.newContext();
  cold.push(await load(await context.newPage()));
  await context.close();
}
const warm = [];
{
  const context = await browser.newContext();
  const page = await context.newPage();
  await load(page);
  for (let i = 0; i < RUNS; i++) warm.push(await load(page));
  await context.close();
}
await browser.close();
await pages.close();

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const row = (label, runs) => {
  const m = (key) => median(runs.map((r) => r[key])).toFixed(1);
  return `| ${label} | ${m('importMs')} ms | ${m('firstVerifyMs')} ms | ${m('totalMs')} ms | ${m('secondVerifyMs')} ms |`;
};
const wasmSize = statSync(join(here, 'node_modules/kazashi/web/kazashi_sdk_wasm_bg.wasm')).size;
console.log(`\nChromium ${version}, ${RUNS} loads each, medians (main wasm ${wasmSize} B):\n`);
console.log('| loads | import (fetch, compile, instantiate) | first verifyResult | import to first verified result | a second verifyResult |');
console.log('|---|---|---|---|---|');
console.log(row('cold (new context each)', cold));
console.log(row('warm (same context, reloaded)', warm));
