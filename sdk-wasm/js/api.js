// The public API of the npm package `kazashi`, over the wasm-bindgen glue of
// `kazashi-sdk-wasm`. Shared by every entry point: `browser.js` imports it as ESM; `cargo xtask
// sdk` derives `api.cjs` from it for `node.cjs` (top-level `export` keywords removed, a
// `module.exports` line added), so keep every export a top-level `export function` or
// `export class`.
//
// Every function is async: the wasm module may still be loading in a browser, and WebCrypto
// is async too. Every failure rejects with a `KazashiError`.
//
// Two wasm modules implement the same operations over the same protocol code
// (`kazashi-protocol`): the main one leaves ECDSA, ECDH and AES to this file, which runs them
// with WebCrypto (`crypto.subtle`: browsers in secure contexts, Node ≥ 20, Deno, workers);
// the fallback one (built with the `rustcrypto` feature) carries them itself and is loaded
// only where WebCrypto is missing. An operation is a state machine in the wasm: it asks for
// one primitive at a time (`{ op: 'sign', … }`, see sdk-wasm/src/webcrypto.rs) and gets its
// answer back; every check and every error code stays in the wasm.

/** Every failure of the package: `code` is stable (see docs/sdk.md for the list). */
export class KazashiError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'KazashiError';
    this.code = code;
  }
}

function rethrow(error) {
  if (error instanceof KazashiError) throw error;
  if (error instanceof Error && error.name === 'KazashiError' && typeof error.code === 'string') {
    throw new KazashiError(error.code, error.message);
  }
  // A trap is a bug of ours: never disguise it as a refusal.
  if (typeof WebAssembly !== 'undefined' && error instanceof WebAssembly.RuntimeError) throw error;
  // What the glue itself throws (a value it cannot convert, a throwing getter…).
  const message = error instanceof Error ? error.message : String(error);
  throw new KazashiError('invalid_argument', message, { cause: error });
}

async function getJson(fetchFn, url) {
  let response;
  try {
    response = await fetchFn(url, { headers: { accept: 'application/json' } });
  } catch (error) {
    throw new KazashiError('fetch_failed', `could not fetch ${url}: ${error?.message ?? error}`, { cause: error });
  }
  if (!response || !response.ok) {
    throw new KazashiError('fetch_failed', `${url} answered HTTP ${response?.status}`);
  }
  try {
    return await response.json();
  } catch (error) {
    throw new KazashiError('invalid_json', `${url} did not answer JSON`, { cause: error });
  }
}

const ES256 = { name: 'ECDSA', hash: 'SHA-256' };
const ECDSA = { name: 'ECDSA', namedCurve: 'P-256' };
const ECDH = { name: 'ECDH', namedCurve: 'P-256' };
const AES_GCM = 'AES-GCM';
const AES_KW = 'AES-KW';
/** Imported keys kept per kind (private, public); the oldest goes first. */
const KEY_CACHE_LIMIT = 128;
const CHALLENGE = new TextEncoder().encode('kazashi: does d belong to x and y?');

/** The runtime's WebCrypto, when it has one (`crypto.subtle` and `getRandomValues`). */
export function webCrypto() {
  const crypto = globalThis.crypto;
  return crypto?.subtle && typeof crypto.getRandomValues === 'function' ? crypto : undefined;
}

/**
 * Answers the main module's requests with WebCrypto. It moves bytes and decides nothing: keys
 * were validated by the wasm (curve membership, ranges) before they get here, and every
 * answer goes back to the wasm, which turns a failed check into the protocol's error code.
 * Imported keys are cached by the id the wasm gives them (the thumbprint of a public key, a
 * hash of a private JWK), so that a key used again is not imported again.
 */
export function createWebCryptoProvider(crypto) {
  const { subtle } = crypto;
  const privateKeys = new Map();
  const publicKeys = new Map();

  function cached(map, id, slot, make) {
    let entry = map.get(id);
    if (entry === undefined) {
      if (map.size >= KEY_CACHE_LIMIT) map.delete(map.keys().next().value);
      entry = {};
      map.set(id, entry);
    }
    return (entry[slot] ??= make().catch((error) => {
      delete entry[slot];
      throw error;
    }));
  }
  // The JWK comes as JSON text, parsed only when the key is not imported yet.
  const privateKey = (request, algorithm, usages) =>
    cached(privateKeys, request.id, algorithm.name, () =>
      subtle.importKey('jwk', JSON.parse(request.jwk), algorithm, false, usages));
  const publicKey = (request, algorithm, usages) =>
    cached(publicKeys, request.id, algorithm.name, () => subtle.importKey('raw', request.key, algorithm, false, usages));

  // Whether d belongs to x and y. A runtime that checks the pair on import refuses it
  // (DataError: every other cause was ruled out by the wasm); one that does not signs with d,
  // and that signature must verify under x and y.
  async function pairMatches(jwk) {
    let signing;
    try {
      signing = await subtle.importKey('jwk', jwk, ECDSA, false, ['sign']);
    } catch (error) {
      if (error?.name === 'DataError') return false;
      throw error;
    }
    const { kty, crv, x, y } = jwk;
    const verifying = await subtle.importKey('jwk', { kty, crv, x, y }, ECDSA, false, ['verify']);
    return subtle.verify(ES256, verifying, await subtle.sign(ES256, signing, CHALLENGE), CHALLENGE);
  }

  const perform = {
    async generate() {
      const pair = await subtle.generateKey(ECDSA, true, ['sign', 'verify']);
      return subtle.exportKey('jwk', pair.privateKey);
    },
    check: (r) => cached(privateKeys, r.id, 'matches', () => pairMatches(JSON.parse(r.jwk))),
    async sign(r) {
      return new Uint8Array(await subtle.sign(ES256, await privateKey(r, ECDSA, ['sign']), r.data));
    },
    async verify(r) {
      return subtle.verify(ES256, await publicKey(r, ECDSA, ['verify']), r.signature, r.data);
    },
    async agree(r) {
      const [key, peer] = await Promise.all([
        privateKey(r, ECDH, ['deriveBits']),
        subtle.importKey('raw', r.key, ECDH, false, []),
      ]);
      return new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: peer }, key, 256));
    },
    async agreeEphemeral(r) {
      const [pair, peer] = await Promise.all([
        subtle.generateKey(ECDH, true, ['deriveBits']),
        publicKey(r, ECDH, []),
      ]);
      const [epk, z] = await Promise.all([
        subtle.exportKey('raw', pair.publicKey),
        subtle.deriveBits({ name: 'ECDH', public: peer }, pair.privateKey, 256),
      ]);
      return { epk: new Uint8Array(epk), z: new Uint8Array(z) };
    },
    async encrypt(r) {
      try {
        const iv = crypto.getRandomValues(new Uint8Array(12));
        const [cek, kek] = await Promise.all(
          r.wrap
            ? [subtle.generateKey({ name: AES_GCM, length: 256 }, true, ['encrypt']), subtle.importKey('raw', r.key, AES_KW, false, ['wrapKey'])]
            : [subtle.importKey('raw', r.key, AES_GCM, false, ['encrypt'])],
        );
        const [encryptedKey, ciphertext] = await Promise.all([
          kek ? subtle.wrapKey('raw', cek, kek, AES_KW) : new ArrayBuffer(0),
          subtle.encrypt({ name: AES_GCM, iv, additionalData: r.aad }, cek, r.plaintext),
        ]);
        return { encryptedKey: new Uint8Array(encryptedKey), iv, ciphertext: new Uint8Array(ciphertext) };
      } finally {
        r.key.fill(0);
      }
    },
    async decrypt(r) {
      try {
        const cek = r.wrap
          ? await subtle.unwrapKey('raw', r.encryptedKey, await subtle.importKey('raw', r.key, AES_KW, false, ['unwrapKey']), AES_KW, AES_GCM, false, ['decrypt'])
          : await subtle.importKey('raw', r.key, AES_GCM, false, ['decrypt']);
        return new Uint8Array(await subtle.decrypt({ name: AES_GCM, iv: r.iv, additionalData: r.aad, tagLength: 128 }, cek, r.ciphertext));
      } catch (error) {
        // Unwrapping or the tag check failed: the wasm says `decryption_failed`.
        if (error?.name === 'OperationError') return null;
        throw error;
      } finally {
        r.key.fill(0);
      }
    },
  };

  return async function answer(request) {
    try {
      return await perform[request.op](request);
    } catch (error) {
      throw new KazashiError('crypto_failed', `WebCrypto failed (${request.op}): ${error?.message ?? error}`, { cause: error });
    }
  };
}

/** Zeroes a shared secret once the wasm has its copy. */
function forget(op, answer) {
  if (op === 'agree') answer?.fill?.(0);
  else if (op === 'agreeEphemeral') answer?.z?.fill?.(0);
}

/**
 * Builds the API. `load(input)` resolves to an initialized wasm-bindgen glue module; `loaded`,
 * when given, is that glue already initialized (Node). A glue built without the `rustcrypto`
 * feature needs WebCrypto: where the runtime has none, `options.fallback(input)` loads the
 * fallback module instead (and `load` is never called).
 */
export function createApi(load, loaded, options = {}) {
  let engine;
  let loading;

  function engineFor(glue) {
    if (glue.cryptoProvider() === 'rustcrypto') {
      return { glue, answer: undefined };
    }
    const crypto = webCrypto();
    if (!crypto) throw new Error('this runtime has no WebCrypto and no fallback module was given');
    return { glue, answer: createWebCryptoProvider(crypto) };
  }

  if (loaded && (webCrypto() || loaded.cryptoProvider() === 'rustcrypto')) engine = engineFor(loaded);

  function ready(input, fallbackInput) {
    if (engine) return engine;
    loading ??= (async () => {
      const glue = !webCrypto() && options.fallback ? await options.fallback(fallbackInput) : await load(input);
      return engineFor(glue);
    })().then(
      (ready) => (engine = ready),
      (error) => {
        loading = undefined;
        throw new KazashiError('wasm_load_failed', `could not load kazashi's wasm: ${error?.message ?? error}`, { cause: error });
      },
    );
    return loading;
  }

  async function call(name, a, b) {
    const { glue } = engine ?? (await ready());
    try {
      return glue[name](a, b);
    } catch (error) {
      rethrow(error);
    }
  }

  async function run(name, a, b) {
    const { glue, answer } = engine ?? (await ready());
    let op;
    try {
      op = glue[name](a, b);
    } catch (error) {
      rethrow(error);
    }
    try {
      let request = op.resume(undefined);
      while (request.op !== 'done') {
        const asked = request.op;
        const response = await answer(request);
        try {
          request = op.resume(response);
        } finally {
          forget(asked, response);
        }
      }
      return request.value;
    } catch (error) {
      rethrow(error);
    } finally {
      op.free();
    }
  }

  return {
    async initialize(input, initializeOptions) {
      await ready(input, initializeOptions?.fallback);
    },
    async generateKeyPair() {
      return run('generateKeyPair');
    },
    async signCommand(claims, privateJwk) {
      return run('signCommand', claims, privateJwk);
    },
    async sealCommand(claims, options) {
      return run('sealCommand', claims, options);
    },
    async verifyResult(token, options) {
      return run('verifyResult', token, options);
    },
    async compactVerify(token, publicJwk) {
      return run('compactVerify', token, publicJwk);
    },
    async compactDecrypt(token, privateJwk) {
      return run('compactDecrypt', token, privateJwk);
    },
    async calculateJwkThumbprint(jwk) {
      return call('calculateJwkThumbprint', jwk);
    },
    async fetchServerKeys(url, options = {}) {
      const fetchFn = options?.fetch ?? globalThis.fetch;
      if (typeof fetchFn !== 'function') {
        throw new KazashiError('fetch_failed', 'this runtime has no fetch; pass options.fetch');
      }
      if (typeof url !== 'string' && !(url instanceof URL)) {
        throw new KazashiError('invalid_argument', 'url must be a string or a URL');
      }
      const href = String(url);
      const document = await getJson(fetchFn, href);
      if (document === null || typeof document !== 'object' || Array.isArray(document)) {
        throw new KazashiError('invalid_discovery', `${href} is neither a discovery document nor a JWK Set`);
      }
      if ('keys' in document) return call('parseJwks', document);
      // A discovery document (`/.well-known/kazashi`): its `jwks_uri`, relative to it.
      if (typeof document.jwks_uri !== 'string') {
        throw new KazashiError('invalid_discovery', `${href} names no jwks_uri`);
      }
      let jwksUrl;
      try {
        jwksUrl = new URL(document.jwks_uri, href).href;
      } catch (error) {
        throw new KazashiError('invalid_discovery', `${href} has an invalid jwks_uri`, { cause: error });
      }
      const keys = await call('parseJwks', await getJson(fetchFn, jwksUrl));
      return typeof document.issuer === 'string' ? { issuer: document.issuer, ...keys } : keys;
    },
  };
}
