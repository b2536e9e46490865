// `kazashi/rustcrypto` for Node (ESM): the same instance as `require('kazashi/rustcrypto')`.
import api from './node-rustcrypto.cjs';

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
