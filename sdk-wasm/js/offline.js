// `kazashi/offline` for browsers, bundlers, Deno and workers (ESM). Its wasm is fetched next to
// this file on first use (`OfflineHolder.create()`, a reader's first `read`, or `initialize()`);
// pass `initialize(moduleOrPath)` to load it from elsewhere.
import init, * as glue from './web/kazashi_sdk_offline_wasm.js';
import { KazashiError } from './browser.js';
import { createOffline } from './offline-api.js';

const offline = createOffline(
  async (input) => {
    await init(input === undefined ? undefined : { module_or_path: input });
    return glue;
  },
  undefined,
  KazashiError,
);

export const { OfflineReader, OfflineHolder, initialize } = offline;
