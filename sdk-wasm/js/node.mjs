// `kazashi` for Node (ESM): the same instance as `require('kazashi')`, so one wasm module
// and one `KazashiError` class whichever way the package is loaded.
import api from './node.cjs';

export const {
  KazashiError,
  initialize,
  generateKeyPair,
  signCommand,
  sealCommand,
  verifyResult,
  compactVerify,
  compactDecrypt,
  calculateJwkThumbprint,
  fetchServerKeys,
  Relay,
} = api;
