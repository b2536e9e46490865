// The public API of the npm package `kazashi`, over the wasm-bindgen glue of
// `kazashi-sdk-wasm`. Shared by every entry point: `browser.js` imports it as ESM; `cargo xtask
// sdk` derives `api.cjs` from it for `node.cjs` (top-level `export` keywords removed, a
// `module.exports` line added), so keep every export a top-level `export function` or
// `export class`.
//
// Every function is async: the wasm module may still be loading in a browser, and WebCrypto,
// where a runtime has it, is async too. Every failure rejects with a `KazashiError`.

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

/**
 * Builds the API over a wasm-bindgen glue module. `load(input)` resolves to the initialized
 * glue; `loaded`, when given, is the glue already initialized (Node).
 */
export function createApi(load, loaded) {
  let wasm = loaded;
  let loading;

  function ready(input) {
    if (wasm) return wasm;
    loading ??= Promise.resolve(load(input)).then(
      (glue) => (wasm = glue),
      (error) => {
        loading = undefined;
        throw new KazashiError('wasm_load_failed', `could not load kazashi's wasm: ${error?.message ?? error}`, { cause: error });
      },
    );
    return loading;
  }

  async function call(name, a, b) {
    const glue = wasm ?? (await ready());
    try {
      return glue[name](a, b);
    } catch (error) {
      rethrow(error);
    }
  }

  return {
    async initialize(input) {
      await ready(input);
    },
    async generateKeyPair() {
      return call('generateKeyPair');
    },
    async signCommand(claims, privateJwk) {
      return call('signCommand', claims, privateJwk);
    },
    async sealCommand(claims, options) {
      return call('sealCommand', claims, options);
    },
    async verifyResult(token, options) {
      return call('verifyResult', token, options);
    },
    async compactVerify(token, publicJwk) {
      return call('compactVerify', token, publicJwk);
    },
    async compactDecrypt(token, privateJwk) {
      return call('compactDecrypt', token, privateJwk);
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
