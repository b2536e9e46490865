// `kazashi/testing` for Node (CommonJS, and the implementation behind `testing.mjs`): the wasm
// is read and compiled synchronously on first `require`. Errors are the main entry's
// `KazashiError` class.
'use strict';

const { KazashiError } = require('./node.cjs');
const { createTesting } = require('./testing-api.cjs');
const glue = require('./node/kazashi_sdk_testing_wasm.cjs');

module.exports = createTesting(() => glue, glue, KazashiError);
