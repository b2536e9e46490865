// `kazashi/rustcrypto` for browsers, bundlers, Deno and workers (ESM): the same API over the
// fallback module, whose ECDSA, ECDH and AES run inside the wasm (RustCrypto) whatever the
// runtime has. Its wasm is fetched next to this file on first use; `initialize(moduleOrPath)`
// loads it from elsewhere.
import init, * as glue from './web/kazashi_sdk_wasm_rustcrypto.js';
import { createApi, KazashiError } from './api.js';

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
