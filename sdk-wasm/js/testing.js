// `kazashi/testing` for browsers, bundlers, Deno and workers (ESM). Its wasm is fetched next to
// this file on first use (`VirtualSecureElement.create()` or `initialize()`); pass
// `initialize(moduleOrPath)` to load it from elsewhere.
import init, * as glue from './web/kazashi_sdk_testing_wasm.js';
import { KazashiError } from './browser.js';
import { createTesting } from './testing-api.js';

const testing = createTesting(
  async (input) => {
    await init(input === undefined ? undefined : { module_or_path: input });
    return glue;
  },
  undefined,
  KazashiError,
);

export const { VirtualSecureElement, initialize } = testing;
