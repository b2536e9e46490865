// `kazashi/offline` for Node (CommonJS, and the implementation behind `offline.mjs`): the wasm
// is read and compiled synchronously on first `require`. Errors are the main entry's
// `KazashiError` class.
'use strict';

const { KazashiError } = require('./node.cjs');
const { createOffline } = require('./offline-api.cjs');
const glue = require('./node/kazashi_sdk_offline_wasm.cjs');

module.exports = createOffline(() => glue, glue, KazashiError);
