// A leak test, not a timing test: 100,000 verifyResult calls leave the wasm memory exactly as
// it was after a warm-up, and the process's resident memory within a generous bound. Half the
// calls verify a result, one in ten is refused after its signature was checked
// (`wrong_audience`), four in ten before (`unknown_key`): the error paths must not leak either.
// KAZASHI_LEAK_CALLS changes the count (for a quick local run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as kazashi from 'kazashi';
import helpers from './helpers.cjs';

const { A3_JWK, A3_PUBLIC, SERVER, PROVIDER, NOW, forgeJws, resultClaims } = helpers;
const CALLS = Number(process.env.KAZASHI_LEAK_CALLS ?? 100_000);
const WARM_UP = 2_000;

// The package's own Node glue module (the instance `kazashi` uses: same file, same require
// cache); its `wasmMemoryBytes()` is the wasm memory's `buffer.byteLength`.
const require = createRequire(import.meta.url);
const glue = require(join(dirname(require.resolve('kazashi/package.json')), 'node', 'kazashi_sdk_wasm.cjs'));
const wasmBytes = () => glue.wasmMemoryBytes();

test(`${CALLS} verifyResult calls: wasm memory unchanged after warm-up, RSS bounded`, async () => {
  assert.ok(wasmBytes() >= 65_536, 'the module reports its memory');
  const serverKeys = { keys: [{ ...A3_PUBLIC, kid: 'server-sig', use: 'sig' }] };
  const token = forgeJws(
    JSON.stringify({ alg: 'ES256', typ: 'kazashi-result+jwt', kid: 'server-sig' }),
    JSON.stringify(resultClaims()),
    A3_JWK,
  );
  const wrongAudience = forgeJws(
    JSON.stringify({ alg: 'ES256', typ: 'kazashi-result+jwt', kid: 'server-sig' }),
    JSON.stringify(resultClaims({ aud: 'someone-else' })),
    A3_JWK,
  );
  const options = { serverKeys, issuer: SERVER, audience: PROVIDER, command: 'cmd-1', now: NOW };

  const unknownKey = forgeJws(
    JSON.stringify({ alg: 'ES256', typ: 'kazashi-result+jwt', kid: 'another-key' }),
    JSON.stringify(resultClaims()),
    A3_JWK,
  );
  let ok = 0;
  let refused = 0;
  const refuse = async (bad, code) => {
    try {
      await kazashi.verifyResult(bad, options);
    } catch (error) {
      assert.equal(error.code, code);
      refused++;
    }
  };
  const once = async (i) => {
    if (i % 10 === 9) await refuse(wrongAudience, 'wrong_audience');
    else if (i % 2 === 1) await refuse(unknownKey, 'unknown_key');
    else if ((await kazashi.verifyResult(token, options)).status === 'ok') ok++;
  };

  for (let i = 0; i < WARM_UP; i++) await once(i);
  globalThis.gc?.();
  const wasmBefore = wasmBytes();
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  for (let i = 0; i < CALLS; i++) {
    await once(i);
    if (i % 10_000 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }
  globalThis.gc?.();
  const wasmAfter = wasmBytes();
  const rssAfter = process.memoryUsage().rss;
  rssPeak = Math.max(rssPeak, rssAfter);

  const calls = WARM_UP + CALLS;
  assert.equal(ok + refused, calls);
  assert.equal(ok, Math.ceil(WARM_UP / 2) + Math.ceil(CALLS / 2), 'half verified');
  assert.equal(wasmAfter, wasmBefore, `wasm memory grew from ${wasmBefore} to ${wasmAfter} bytes`);
  const growth = rssAfter - rssBefore;
  console.log(`# ${calls} calls: wasm memory ${wasmBefore} → ${wasmAfter} B; RSS ${(rssBefore / 2 ** 20).toFixed(1)} → ${(rssAfter / 2 ** 20).toFixed(1)} MiB (peak ${(rssPeak / 2 ** 20).toFixed(1)} MiB)`);
  assert.ok(growth < 64 * 2 ** 20, `RSS grew by ${(growth / 2 ** 20).toFixed(1)} MiB`);
});
