// `kazashi/rustcrypto` for browsers, bundlers, Deno and workers (ESM): the same API over the
// fallback module, whose ECDSA, ECDH and AES run inside the wasm (RustCrypto) whatever the
// runtime has. Its wasm is fetched next to this file on first use; `initialize(moduleOrPath)`
// loads it from elsewhere.
import init, * as glue from './web/kazashi_sdk_wasm_rustcrypto.js';
import { createApi, KazashiError } from './api.js';
import { createRelay } from './relay.js';

const api = createApi(async (input) => {
  await init(input === undefined ? undefined : { module_or_path: input });
  return glue;
});

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
