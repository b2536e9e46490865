// The package loaded with `import` (Node ESM: node.mjs over node.cjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as kazashi from 'kazashi';
import register from './interop.cjs';

register(kazashi, 'ESM');

test('ESM: import and require share one instance and one KazashiError class', () => {
  const required = createRequire(import.meta.url)('kazashi');
  assert.equal(required.KazashiError, kazashi.KazashiError);
  assert.equal(required.verifyResult, kazashi.verifyResult);
});
