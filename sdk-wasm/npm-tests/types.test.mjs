// The package's TypeScript declarations compile as an application uses them: `tsc --strict`
// over types-check.mts (ESM) and types-check.cts (CommonJS), module resolution `nodenext`
// (the `exports` map's `types` conditions), against the installed tarball.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

test('the declarations of Relay, kazashi/testing and kazashi/offline type-check (ESM and CommonJS)', () => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const out = spawnSync(process.execPath, [
    tsc, '--noEmit', '--strict', '--target', 'es2022', '--lib', 'es2022,dom,esnext.disposable',
    '--module', 'nodenext', '--moduleResolution', 'nodenext',
    'types-check.mts', 'types-check.cts',
  ], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stdout + out.stderr);
});
