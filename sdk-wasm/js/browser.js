// `kazashi` for browsers, bundlers, Deno and workers (ESM). The wasm is fetched next to this
// file on first use; call `initialize(moduleOrPath)` to load it from elsewhere. Where the
// runtime has no WebCrypto (a page served over plain HTTP, say), the fallback module
// (`web/kazashi_sdk_wasm_rustcrypto*`, RustCrypto inside the wasm) is imported instead, on
// first use: `initialize(undefined, { fallback: moduleOrPath })` to load it from elsewhere.
import init, * as glue from './web/kazashi_sdk_wasm.js';
import { createApi, KazashiError } from './api.js';
import { createRelay } from './relay.js';

const options = (input) => (input === undefined ? undefined : { module_or_path: input });

const api = createApi(
  async (input) => {
    await init(options(input));
    return glue;
  },
  undefined,
  {
    async fallback(input) {
      const fallback = await import('./web/kazashi_sdk_wasm_rustcrypto.js');
      await fallback.default(options(input));
      return fallback;
    },
  },
);

export { KazashiError };
export const {
  initialize,
  generateKeyPair,
  signCommand,
  sealCommand,
  verifyResult,
  compactVerify,
  compactDecrypt,
  calculateJwkThumbprint,
  fetchServerKeys,
} = api;

/** The JavaScript relay (docs/sdk.md, "The relay"); its own wasm loads on its first run. */
export const Relay = createRelay(async (input) => {
  const relayGlue = await import('./web/kazashi_sdk_relay_wasm.js');
  await relayGlue.default(input === undefined ? undefined : { module_or_path: input });
  return relayGlue;
}, KazashiError);
