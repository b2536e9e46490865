// A provider's backend integration with kazashi, using only the npm package `kazashi`: it holds
// the provider's signing key, builds and seals commands, registers them with the kazashi
// server, and fetches and verifies the signed results. docs/sdk.md walks through it.
//
// Nothing here is demo-specific: a city hall's backend would use this class as it is, with its
// key in a secret store instead of a file.

import { readFile, writeFile, rename } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { generateKeyPair, sealCommand, verifyResult, fetchServerKeys, KazashiError } from 'kazashi';

/** How long a command stays valid (seconds); the server refuses more than 600. */
const COMMAND_LIFETIME = 300;

/** Loads the provider's private JWK from `file`, or creates one there (mode 0600). */
export async function loadOrCreateKey(file) {
  try {
    const jwk = JSON.parse(await readFile(file, 'utf8'));
    if (jwk?.kty !== 'EC' || typeof jwk.d !== 'string') throw new Error(`${file} holds no private P-256 JWK`);
    return jwk;
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
  const { privateJwk } = await generateKeyPair();
  const partial = `${file}.tmp-${process.pid}`;
  await writeFile(partial, JSON.stringify(privateJwk), { mode: 0o600 });
  await rename(partial, file);
  return privateJwk;
}

/** The public half of a private JWK, as the JWKS the server operator registers. */
export function publicJwks(privateJwk) {
  const { d: _secret, ...publicJwk } = privateJwk;
  return { keys: [{ ...publicJwk, use: 'sig', alg: 'ES256' }] };
}

/** An error of the provider's own flow (the server refused, or no result yet). */
export class ProviderError extends Error {
  constructor(code, message, status) {
    super(message);
    this.name = 'ProviderError';
    this.code = code;
    this.status = status;
  }
}

export class Provider {
  #key;

  /**
   * @param {object} options
   * @param {string} options.id         the provider id the server operator registered
   * @param {object} options.privateJwk the provider's signing key
   * @param {string} options.discovery  the server's discovery URL (…/.well-known/kazashi)
   * @param {typeof fetch} [options.fetch]
   */
  constructor({ id, privateJwk, discovery, fetch: fetchFn = globalThis.fetch }) {
    this.id = id;
    this.#key = privateJwk;
    this.discovery = discovery;
    this.fetch = fetchFn;
    this.server = undefined;
  }

  /** The server's discovery document and keys (cached; `refresh` after a key rotation). */
  async serverInfo({ refresh = false } = {}) {
    if (!this.server || refresh) {
      const response = await this.fetch(this.discovery);
      if (!response.ok) throw new ProviderError('server_unreachable', `${this.discovery}: HTTP ${response.status}`, 502);
      const meta = await response.json();
      const keys = await fetchServerKeys(this.discovery, { fetch: this.fetch });
      this.server = { meta, keys };
    }
    return this.server;
  }

  /**
   * Seals `ops` for `chip` (the chip id the citizen's phone registered; omit it and the common
   * app names the chip) and registers the command. Returns what the page needs to launch the
   * common app, and the command's `jti` to check the result against.
   */
  async register(ops, { chip } = {}) {
    const { meta, keys } = await this.serverInfo();
    const serverKey = keys.keys.find((k) => k.use === 'enc');
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: this.id,
      aud: meta.issuer,
      jti: randomUUID(),
      iat: now,
      exp: now + COMMAND_LIFETIME,
      ...(chip ? { sub: chip } : {}),
      ops,
    };
    const sealed = await sealCommand(claims, { providerKey: this.#key, serverKey });
    const response = await this.fetch(meta.transactions_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/jose' },
      body: sealed,
    });
    const body = await response.json().catch(() => ({}));
    if (response.status !== 201) {
      throw new ProviderError(body.error ?? 'registration_refused', body.message ?? `HTTP ${response.status}`, response.status);
    }
    return { transaction: body.id, launchUrl: body.launch_url, expiresAt: body.expires_at, jti: claims.jti };
  }

  /**
   * Fetches the transaction's result from the server and verifies it: signed by the server,
   * for this provider, answering command `jti`. Throws `ProviderError('pending')` while the
   * transaction runs, and KazashiError when the token does not verify.
   */
  async result(transaction, jti) {
    const { meta, keys } = await this.serverInfo();
    const url = `${meta.transactions_endpoint}/${encodeURIComponent(transaction)}/result`;
    const response = await this.fetch(url);
    if (response.status !== 200) {
      const body = await response.json().catch(() => ({}));
      throw new ProviderError(body.error ?? 'no_result', body.message ?? `HTTP ${response.status}`, response.status);
    }
    const token = await response.text();
    return this.verify(token, jti);
  }

  /** Verifies a result token (from the server, or relayed by the page). */
  async verify(token, jti) {
    const { meta, keys } = await this.serverInfo();
    try {
      return await verifyResult(token, { serverKeys: keys, issuer: meta.issuer, audience: this.id, command: jti });
    } catch (error) {
      if (error instanceof KazashiError && error.code === 'unknown_key') {
        // The server may have rotated its keys since we cached them.
        const fresh = await this.serverInfo({ refresh: true });
        return verifyResult(token, { serverKeys: fresh.keys, issuer: fresh.meta.issuer, audience: this.id, command: jti });
      }
      throw error;
    }
  }
}
