// `kazashi` for Node (CommonJS, and the implementation behind `node.mjs`): the wasm is read
// and compiled synchronously on first `require`.
'use strict';

const { createApi, KazashiError } = require('./api.cjs');
const glue = require('./node/kazashi_sdk_wasm.cjs');
const { createRelay } = require('./relay.cjs');

module.exports = {
  ...createApi(() => glue, glue),
  KazashiError,
  // The relay's own wasm module is compiled on its first run only.
  Relay: createRelay(() => require('./node/kazashi_sdk_relay_wasm.cjs'), KazashiError),
};
