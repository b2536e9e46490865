// The browser entry (web glue, wasm loaded by `initialize`) run in Node, with the wasm bytes
// passed in: the same suite as the Node entries. Browsers themselves are tested elsewhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import register from './interop.cjs';

const packageDir = dirname(createRequire(import.meta.url).resolve('kazashi/package.json'));
const browser = await import(pathToFileURL(join(packageDir, 'browser.js')).href);
await browser.initialize(readFileSync(join(packageDir, 'web', 'kazashi_sdk_wasm_bg.wasm')));

register(browser, 'browser entry');

test('browser entry: its own KazashiError class, distinct from the Node entry', async () => {
  const node = await import('kazashi');
  assert.notEqual(browser.KazashiError, node.KazashiError);
});
