// `kazashi` for Node (CommonJS, and the implementation behind `node.mjs`): the wasm is read
// and compiled synchronously on first `require`. Node ≥ 20 has WebCrypto, which does the
// ECDSA, ECDH and AES; the fallback module (RustCrypto inside the wasm) is required only if
// `globalThis.crypto.subtle` is missing.
'use strict';

const { createApi, KazashiError } = require('./api.cjs');
const glue = require('./node/kazashi_sdk_wasm.cjs');
const { createRelay } = require('./relay.cjs');

module.exports = {
  ...createApi(() => glue, glue, { fallback: () => require('./node/kazashi_sdk_wasm_rustcrypto.cjs') }),
  KazashiError,
  // The relay's own wasm module is compiled on its first run only.
  Relay: createRelay(() => require('./node/kazashi_sdk_relay_wasm.cjs'), KazashiError),
};
