// The JavaScript relay (the common app's logic, docs/relay.md) of the npm package `kazashi`.
// Every decision — reading the chip's identity, the hello, running each script, the report,
// what a server answer means, the bounded retries — is the wasm `RelaySession`
// (`kazashi_protocol::online::RelaySession`, shared with the Rust relay); this file only moves
// bytes between it, the page's transport to the chip and `fetch`, and sleeps when told to.
//
// Its wasm is a module of its own (`kazashi_sdk_relay_wasm_bg.wasm`: no cryptography, a relay
// holds no keys), loaded on the first run, so that a page that only verifies results does not
// carry it.
//
// `cargo xtask sdk` derives `relay.cjs` from this file as it does `api.cjs` from `api.js`: keep
// the one export a top-level `export function`, and import nothing.

/**
 * Builds the `Relay` class over `load(input)`, which resolves to the relay module's initialized
 * wasm-bindgen glue, and the entry's `KazashiError` class.
 */
export function createRelay(load, KazashiError) {
  let glue;
  let loading;
  function ready(input) {
    if (glue) return glue;
    loading ??= Promise.resolve()
      .then(() => load(input))
      .then(
        (loaded) => (glue = loaded),
        (error) => {
          loading = undefined;
          throw new KazashiError('wasm_load_failed', `could not load kazashi's relay wasm: ${error?.message ?? error}`, { cause: error });
        },
      );
    return loading;
  }

  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('').toUpperCase();
  const sleep = (millis) => new Promise((resolve) => setTimeout(resolve, millis));
  const decoder = new TextDecoder('utf-8', { fatal: false });

  function fromGlue(error) {
    if (error instanceof KazashiError) return error;
    if (error instanceof Error && error.name === 'KazashiError' && typeof error.code === 'string') {
      return new KazashiError(error.code, error.message);
    }
    if (typeof WebAssembly !== 'undefined' && error instanceof WebAssembly.RuntimeError) return error;
    return new KazashiError('invalid_argument', error instanceof Error ? error.message : String(error), { cause: error });
  }

  function retries(value, name) {
    if (value === undefined) return undefined;
    if (!Number.isInteger(value) || value < 0 || value > 1000) {
      throw new KazashiError('invalid_argument', `${name} must be a whole number from 0 to 1000`);
    }
    return value;
  }

  /** Carries a transaction's scripts between the server and a chip; holds no keys. */
  class Relay {
    /** Loads the relay's wasm now (browsers: from `moduleOrPath`, default next to the glue). */
    static async initialize(moduleOrPath) {
      await ready(moduleOrPath);
    }

    #transport;
    #fetch;
    #onEvent;
    #retries;

    constructor(options) {
      if (options === null || typeof options !== 'object') {
        throw new KazashiError('invalid_argument', 'new Relay(options): options must be an object');
      }
      const { transport, fetch: fetchFn, onEvent, networkRetries, busyRetries } = options;
      if (typeof transport !== 'function') {
        throw new KazashiError('invalid_argument', 'options.transport must be a function (apdu: Uint8Array) => Promise<Uint8Array>');
      }
      if (fetchFn !== undefined && typeof fetchFn !== 'function') {
        throw new KazashiError('invalid_argument', 'options.fetch must be a function');
      }
      if (onEvent !== undefined && typeof onEvent !== 'function') {
        throw new KazashiError('invalid_argument', 'options.onEvent must be a function');
      }
      this.#transport = transport;
      this.#fetch = fetchFn;
      this.#onEvent = onEvent;
      this.#retries = {
        networkRetries: retries(networkRetries, 'options.networkRetries'),
        busyRetries: retries(busyRetries, 'options.busyRetries'),
      };
    }

    #emit(event) {
      if (!this.#onEvent) return;
      try {
        this.#onEvent(event);
      } catch {
        // An observer never changes the run.
      }
    }

    /**
     * Runs the transaction behind `launchUrl` on the chip; resolves to the server's result
     * token (verify it with `verifyResult`).
     */
    async run(launchUrl) {
      const fetchFn = this.#fetch ?? globalThis.fetch;
      if (typeof fetchFn !== 'function') {
        throw new KazashiError('fetch_failed', 'this runtime has no fetch; pass options.fetch');
      }
      if (launchUrl instanceof URL) launchUrl = launchUrl.href;
      const glue = await ready();
      let session;
      try {
        session = new glue.RelaySession(launchUrl, this.#retries);
      } catch (error) {
        throw fromGlue(error);
      }
      const maxAnswer = glue.RelaySession.maxAnswer();
      let cardError;
      let networkError;
      let lastPhase;
      try {
        for (;;) {
          const phase = session.phase();
          if (phase.phase !== lastPhase?.phase || phase.step !== lastPhase?.step) {
            const chip = session.chip;
            this.#emit({ type: 'phase', ...phase, ...(chip ? { chip } : {}) });
            lastPhase = phase;
          }
          const action = session.action();
          switch (action.kind) {
            case 'transmit': {
              this.#emit({ type: 'apdu', direction: 'command', hex: hex(action.apdu) });
              let rapdu;
              try {
                rapdu = await this.#transport(action.apdu);
                if (!(rapdu instanceof Uint8Array)) {
                  throw new TypeError('the transport must resolve to a Uint8Array');
                }
                // ISO/IEC 7816-4: at most 65,536 data bytes and SW1 SW2.
                if (rapdu.length > 65_538) {
                  throw new RangeError(`the transport answered ${rapdu.length} bytes: not a response APDU`);
                }
              } catch (error) {
                cardError = error;
                this.#emit({ type: 'apdu', direction: 'error', message: String(error?.message ?? error) });
                // A transport says the card left the field by throwing an error whose `code`
                // is `card_removed`: the answers so far are reported and the server ends the
                // transaction. Any other failure ends the run.
                if (error?.code === 'card_removed') session.cardRemoved();
                else session.cardFailed();
                break;
              }
              this.#emit({ type: 'apdu', direction: 'response', hex: hex(rapdu) });
              session.cardResponse(rapdu);
              break;
            }
            case 'post': {
              const { url, body } = action;
              this.#emit({ type: 'http', direction: 'request', method: 'POST', url, body });
              let status;
              let bytes;
              try {
                const response = await fetchFn(url, {
                  method: 'POST',
                  headers: { 'content-type': 'application/json', accept: 'application/json' },
                  body,
                  credentials: 'omit',
                  cache: 'no-store',
                });
                status = response.status;
                bytes = new Uint8Array(await response.arrayBuffer());
              } catch (error) {
                networkError = error;
                this.#emit({ type: 'http', direction: 'error', url, message: String(error?.message ?? error) });
                session.networkFailed();
                break;
              }
              // More than the largest answer is refused by the session; do not copy it all.
              const answer = bytes.length > maxAnswer ? bytes.subarray(0, maxAnswer + 1) : bytes;
              this.#emit({ type: 'http', direction: 'response', url, status, body: decoder.decode(answer) });
              session.httpResponse(status, answer);
              break;
            }
            case 'wait':
              await sleep(action.millis);
              session.waited();
              break;
            case 'done':
              return action.token;
            case 'failed': {
              const cause = action.code === 'card_error' ? cardError : action.code === 'fetch_failed' ? networkError : undefined;
              throw new KazashiError(action.code, action.message, cause === undefined ? undefined : { cause });
            }
            default:
              throw new KazashiError('invalid_argument', `unknown relay action ${action.kind}`);
          }
        }
      } finally {
        session.free();
      }
    }
  }

  return Relay;
}
