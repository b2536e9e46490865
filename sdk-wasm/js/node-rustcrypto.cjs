// `kazashi/rustcrypto` for Node (CommonJS, and the implementation behind
// `node-rustcrypto.mjs`): the same API over the fallback module, whose ECDSA, ECDH and AES run
// inside the wasm (RustCrypto) whatever the runtime has. Shares `KazashiError` with `kazashi`.
'use strict';

const { createApi, KazashiError } = require('./api.cjs');
const glue = require('./node/kazashi_sdk_wasm_rustcrypto.cjs');
const { createRelay } = require('./relay.cjs');

module.exports = {
  ...createApi(() => glue, glue),
  KazashiError,
  Relay: createRelay(() => require('./node/kazashi_sdk_relay_wasm.cjs'), KazashiError),
};
