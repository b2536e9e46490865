// `kazashi` for Node (CommonJS, and the implementation behind `node.mjs`): the wasm is read
// and compiled synchronously on first `require`. Node ≥ 20 has WebCrypto, which does the
// ECDSA, ECDH and AES; the fallback module (RustCrypto inside the wasm) is required only if
// `globalThis.crypto.subtle` is missing.
'use strict';

const { createApi, KazashiError } = require('./api.cjs');
const glue = require('./node/kazashi_sdk_wasm.cjs');

module.exports = {
  ...createApi(() => glue, glue, { fallback: () => require('./node/kazashi_sdk_wasm_rustcrypto.cjs') }),
  KazashiError,
};
