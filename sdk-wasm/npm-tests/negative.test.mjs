// The negative corpus against `kazashi` (WebCrypto under Node); rustcrypto.test.mjs runs it
// against `kazashi/rustcrypto`.
import * as kazashi from 'kazashi';
import register from './negative.mjs';

await register(kazashi, 'webcrypto');
