// Hostile and random input against `kazashi` (WebCrypto under Node); rustcrypto.test.mjs runs
// it against `kazashi/rustcrypto`.
import * as kazashi from 'kazashi';
import register from './garbage.mjs';

register(kazashi, 'webcrypto');
