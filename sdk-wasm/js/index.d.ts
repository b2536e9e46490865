// Types of the npm package `kazashi`. The wire formats are those of docs/envelopes.md.

/** A JSON Web Key (RFC 7517). kazashi uses P-256 EC keys only. */
export interface JWK {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  /** The private scalar; present only in private keys. */
  d?: string;
  /** Key id; kazashi names keys by their RFC 7638 thumbprint. */
  kid?: string;
  /** `"sig"` or `"enc"`. */
  use?: string;
  alg?: string;
  key_ops?: string[];
  [member: string]: unknown;
}

/** A public P-256 key. */
export interface PublicJWK extends JWK {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

/** A private P-256 key. Keep it secret: never send it to a browser you do not control. */
export interface PrivateJWK extends PublicJWK {
  d: string;
}

/** A JWK Set (RFC 7517 §5), as the server publishes at `/.well-known/jwks.json`. */
export interface JWKS {
  keys: JWK[];
}

/** What {@link fetchServerKeys} returns: the server's JWKS, and its issuer id when known. */
export interface ServerKeys extends JWKS {
  /** The server's id (`issuer` of its discovery document): pass it to {@link verifyResult}. */
  issuer?: string;
}

/** Names of records, counters and keys: 1 to 32 characters of `A-Z a-z 0-9 . _ -`. */
export type Name = string;

/** One operation on the chip, run in order. */
export type Operation =
  /** Write a record; `data` is base64url (no padding), at most 4,096 bytes. */
  | { op: 'put'; record: Name; data: string }
  /** Read a record; the result carries `data`. */
  | { op: 'get'; record: Name }
  | { op: 'delete'; record: Name }
  /** Add 1 to 4,294,967,295 to a counter; the result carries the new `value`. */
  | { op: 'add'; counter: Name; amount: number }
  /** Subtract from a counter; refused by the chip if it would go below zero. */
  | { op: 'sub'; counter: Name; amount: number }
  /** Generate a P-256 key pair on the chip; the result carries its public `jwk`. */
  | { op: 'keygen'; key: Name }
  /** A raw APDU (hex) to an applet (`aid`, hex, 5 to 16 bytes) the provider may use. */
  | { op: 'apdu'; aid: string; capdu: string };

/** The claims of a command envelope. Times are seconds since the Unix epoch. */
export interface CommandClaims {
  /** The provider's id, as registered with the server. */
  iss: string;
  /** The server's id (its `issuer`). */
  aud: string | string[];
  /** Unique per command: the server refuses a `jti` it has seen. */
  jti: string;
  iat: number;
  /** At most 600 s after `iat` by default. */
  exp: number;
  nbf?: number;
  /** The chip's id, when the provider knows which chip. */
  sub?: string;
  /** 1 to 64 operations. */
  ops: Operation[];
}

/** The result of one operation. */
export interface OperationResult {
  /** `skipped`: the operation never reached the chip. */
  status: 'ok' | 'failed' | 'skipped';
  /** `get`: the record, base64url. */
  data?: string;
  /** `add`/`sub`: the counter's new value. */
  value?: number;
  /** `keygen`: the public key generated on the chip. */
  jwk?: PublicJWK;
  /** `apdu`: the response APDU, hex. */
  rapdu?: string;
  /** The chip's status word (4 hex digits) when the operation failed. */
  sw?: string;
  /** A stable error code when the operation failed. */
  error?: string;
}

/** The claims of a verified result envelope. */
export interface ResultClaims {
  /** The server's id. */
  iss: string;
  /** The provider's id. */
  aud: string | string[];
  /** The transaction id. */
  jti: string;
  /** The command's `jti`. */
  cmd: string;
  iat: number;
  /** The chip's id. */
  chip: string;
  /** `ok` when every operation succeeded. */
  status: 'ok' | 'failed';
  /** Why the transaction failed as a whole, as a stable code. */
  reason?: string;
  /** One entry per operation of the command, in order. */
  results: OperationResult[];
}

/** Keys for {@link sealCommand}. */
export interface SealCommandOptions {
  /** The provider's private signing key. */
  providerKey: PrivateJWK;
  /** The server's public encryption key (`use: "enc"` in its JWKS). */
  serverKey: PublicJWK;
}

/** What {@link verifyResult} checks a result against. Times are in seconds. */
export interface VerifyResultOptions {
  /** The server's JWKS (from {@link fetchServerKeys}); the result's `kid` picks the key. */
  serverKeys: JWKS;
  /** The server's id: the result's `iss` must be exactly this. */
  issuer: string;
  /** The provider's id: the result's `aud` must contain it. */
  audience: string;
  /** The command's `jti`, when known: the result's `cmd` must be it. */
  command?: string;
  /** The provider's private encryption key, to open a sealed result. */
  providerKey?: PrivateJWK;
  /** Now, seconds since the epoch (default: the clock). */
  now?: number;
  /** Clock leeway (default 60). */
  leeway?: number;
  /** Oldest accepted result, `now - iat` (default: no limit). */
  maxAge?: number;
}

/** The stable error codes. `string` keeps room for codes added later. */
export type KazashiErrorCode =
  // Tokens and JOSE (RFC 7515, 7516, 8725)
  | 'token_too_large' | 'invalid_compact' | 'invalid_base64' | 'invalid_utf8' | 'invalid_json'
  | 'not_an_object' | 'duplicate_member' | 'missing_header' | 'invalid_header'
  | 'unsupported_algorithm' | 'unsupported_encryption' | 'zip_not_supported'
  | 'unknown_critical' | 'unencoded_payload' | 'invalid_signature_length'
  | 'invalid_signature' | 'invalid_key' | 'key_mismatch' | 'invalid_epk'
  | 'invalid_encrypted_key' | 'invalid_iv' | 'invalid_tag' | 'decryption_failed'
  // Envelopes (docs/envelopes.md)
  | 'not_sealed' | 'sealed_needs_key' | 'wrong_content_type' | 'missing_typ' | 'wrong_typ'
  | 'missing_kid' | 'unknown_key' | 'wrong_issuer' | 'wrong_audience' | 'expired'
  | 'issued_in_future' | 'not_yet_valid' | 'lifetime_too_long' | 'command_mismatch'
  | 'invalid_claims'
  // The package itself
  | 'invalid_argument' | 'no_randomness' | 'fetch_failed' | 'invalid_discovery'
  | 'wasm_load_failed' | 'crypto_failed'
  // The relay and kazashi/testing
  | 'invalid_launch_url' | 'card_error' | 'no_chip_identity' | 'unexpected_answer'
  | 'invalid_script' | 'too_many_exchanges' | 'server_error' | 'invalid_state' | 'disposed'
  | 'not_initialized'
  | (string & {});

/** Every failure of the package, thrown (or rejected) with a stable `code`. */
export declare class KazashiError extends Error {
  constructor(code: KazashiErrorCode, message: string, options?: { cause?: unknown });
  readonly name: 'KazashiError';
  /** A stable snake_case code; the message is English for logs and may change. */
  readonly code: KazashiErrorCode;
}

/**
 * Loads the wasm module now rather than on first use. In browsers, `moduleOrPath` may be a
 * URL, a `Response`, bytes or a `WebAssembly.Module` (default: the `.wasm` next to the
 * package's `browser.js`). Where the runtime has no WebCrypto, the fallback module is loaded
 * instead, from `options.fallback` (default: `web/kazashi_sdk_wasm_rustcrypto_bg.wasm` next
 * to `browser.js`). In Node the module is loaded on import and this does nothing.
 */
export declare function initialize(moduleOrPath?: unknown, options?: { fallback?: unknown }): Promise<void>;

/** A fresh P-256 key pair; both JWKs carry `kid` = the RFC 7638 thumbprint. */
export declare function generateKeyPair(): Promise<{ privateJwk: PrivateJWK; publicJwk: PublicJWK }>;

/**
 * Signs a command: a compact JWS, ES256, `typ: "kazashi-command+jwt"`, `kid` = the key's
 * thumbprint. The claims are checked against the schema first (`invalid_claims`).
 */
export declare function signCommand(claims: CommandClaims, privateJwk: PrivateJWK): Promise<string>;

/**
 * Signs a command, then seals it to the server's encryption key: a compact JWE,
 * `ECDH-ES+A256KW`/`A256GCM`, `cty: "JWT"`, `kid` = the server key's thumbprint. This is what
 * the provider's backend registers with the server.
 */
export declare function sealCommand(claims: CommandClaims, options: SealCommandOptions): Promise<string>;

/**
 * Verifies a result token (a JWS, or a JWE sealed to the provider when `providerKey` is
 * given): ES256 only, `typ: "kazashi-result+jwt"`, key by `kid` from `serverKeys`, `iss`,
 * `aud`, `cmd` and `iat` checked (RFC 8725). Resolves to the claims; rejects with a
 * `KazashiError` otherwise.
 */
export declare function verifyResult(token: string | Uint8Array, options: VerifyResultOptions): Promise<ResultClaims>;

/**
 * Verifies any compact JWS (ES256) with a public key, as `jose`'s `compactVerify`; the
 * profile's header rules apply (no `crit`, `zip` or `b64: false`; 64-byte signatures).
 */
export declare function compactVerify(
  token: string | Uint8Array,
  publicJwk: PublicJWK,
): Promise<{ payload: Uint8Array; protectedHeader: Record<string, unknown> }>;

/**
 * Decrypts any compact JWE (`ECDH-ES` or `ECDH-ES+A256KW`, `A256GCM`) with a private key, as
 * `jose`'s `compactDecrypt`.
 */
export declare function compactDecrypt(
  token: string | Uint8Array,
  privateJwk: PrivateJWK,
): Promise<{ plaintext: Uint8Array; protectedHeader: Record<string, unknown> }>;

/** The RFC 7638 thumbprint (SHA-256, base64url) of a P-256 key's public part. */
export declare function calculateJwkThumbprint(jwk: JWK): Promise<string>;

/**
 * Fetches the server's keys: `url` is its discovery document (`/.well-known/kazashi`, whose
 * `jwks_uri` is followed and whose `issuer` is returned) or its JWKS itself. Uses
 * `globalThis.fetch` unless `options.fetch` is given.
 */
export declare function fetchServerKeys(
  url: string | URL,
  options?: { fetch?: typeof fetch },
): Promise<ServerKeys>;

// ---------------------------------------------------------------------------------------------
// The relay (docs/sdk.md, "The relay"; docs/relay.md)

/**
 * How the relay reaches the chip: one command APDU in, its response APDU (data ‖ SW1 SW2)
 * out. Throw to say the chip cannot be reached; throw an error whose `code` is
 * `'card_removed'` to say the card left the field (the answers so far are then reported and
 * the server ends the transaction with a signed `failed` result).
 */
export type Transport = (apdu: Uint8Array) => Promise<Uint8Array> | Uint8Array;

/** What the relay does, for a page that shows it ("what the common app sees"). */
export type RelayEvent =
  /** The run entered a phase; `chip` once the chip's identity is read. */
  | {
      type: 'phase';
      phase: 'identity' | 'hello' | 'script' | 'report' | 'waiting' | 'done' | 'failed';
      /** `script`, `report`: the script's step. */
      step?: number;
      /** `script`: how many APDUs it holds. */
      apdus?: number;
      /** `waiting`: `true` for `chip_busy`, `false` for an unreachable server. */
      busy?: boolean;
      chip?: string;
    }
  /** An APDU to the chip, its response (upper-case hex), or the transport's failure. */
  | { type: 'apdu'; direction: 'command' | 'response'; hex: string }
  | { type: 'apdu'; direction: 'error'; message: string }
  /** An HTTP exchange with the server (the URL holds the launch token). */
  | { type: 'http'; direction: 'request'; method: 'POST'; url: string; body: string }
  | { type: 'http'; direction: 'response'; url: string; status: number; body: string }
  | { type: 'http'; direction: 'error'; url: string; message: string };

/** Options of {@link Relay}. */
export interface RelayOptions {
  /** The way to the chip. */
  transport: Transport;
  /** The fetch to reach the server with (default `globalThis.fetch`). */
  fetch?: typeof fetch;
  /** Called for every phase, APDU and HTTP exchange; what it throws is ignored. */
  onEvent?: (event: RelayEvent) => void;
  /** Resends of a message when the server cannot be reached (default 30, about 20 s). */
  networkRetries?: number;
  /** Resends of a message answered `409 chip_busy` (default 130, about two minutes). */
  busyRetries?: number;
}

/**
 * The common app's logic (docs/relay.md): carries a transaction's scripts from the server to
 * the chip and the chip's answers back. It holds no keys and decides nothing — every script
 * is SCP03-protected end to end between the server and the chip; the run loop is the same
 * sans-IO state machine as the Rust relay's (`kazashi_protocol::online::RelaySession`).
 *
 * ```js
 * const relay = new Relay({ transport: (apdu) => reader.transmit(apdu) });
 * const token = await relay.run(launchUrl);   // then verifyResult(token, …)
 * ```
 *
 * Failures reject with a {@link KazashiError}: `invalid_launch_url`, `card_error` (the
 * transport threw; `cause` is what it threw), `no_chip_identity`, `fetch_failed` (the server
 * could not be reached after the retries; `cause`), `unexpected_answer`, `invalid_script`,
 * `too_many_exchanges`, or the server's own code when it refused (`launch_used`,
 * `launch_expired`, `launch_unknown`, `wrong_chip`, `unknown_chip`, `chip_suspended`,
 * `chip_busy` after the retries, …; `server_error` when it named none).
 */
export declare class Relay {
  /**
   * Loads the relay's wasm now rather than on the first run. It is a module of its own (a
   * relay needs no cryptography); in browsers `moduleOrPath` may be a URL, a `Response`, bytes
   * or a `WebAssembly.Module` (default: `web/kazashi_sdk_relay_wasm_bg.wasm` next to the
   * package's files).
   */
  static initialize(moduleOrPath?: unknown): Promise<void>;
  constructor(options: RelayOptions);
  /** Runs the transaction behind `launchUrl`; resolves to the server's result token. */
  run(launchUrl: string | URL): Promise<string>;
}
