// `kazashi/offline`: ISO/IEC 18013-5 (mdoc) over NFC APDUs, both sides, so that a phone app
// shell can be either the reader or the holder. Every decision — the NFC static handover, the
// session, the request and its reader authentication, selective disclosure, device
// authentication, verification — is the wasm's (`kazashi_protocol::offline::terminal` and
// `::phone`, shared with `kazashi-kiosk`); this file only moves bytes between it and the app's
// transport. Its wasm is a module of its own (`kazashi_sdk_offline_wasm_bg.wasm`), loaded only
// by this entry.
//
// `cargo xtask sdk` derives `offline-api.cjs` from this file: keep the one export a top-level
// `export function`, and import nothing.

/**
 * Builds the entry over a wasm-bindgen glue module: `load(input)` resolves to the initialized
 * glue; `loaded`, when given, is the glue already initialized (Node).
 */
export function createOffline(load, loaded, KazashiError) {
  let glue = loaded;
  let loading;
  const dispose = Symbol.dispose ?? Symbol.for('Symbol.dispose');

  function ready(input) {
    if (glue) return glue;
    loading ??= Promise.resolve(load(input)).then(
      (loadedGlue) => (glue = loadedGlue),
      (error) => {
        loading = undefined;
        throw new KazashiError('wasm_load_failed', `could not load kazashi/offline's wasm: ${error?.message ?? error}`, { cause: error });
      },
    );
    return loading;
  }

  function fromGlue(error) {
    if (error instanceof KazashiError) return error;
    if (error instanceof Error && error.name === 'KazashiError' && typeof error.code === 'string') {
      return new KazashiError(error.code, error.message);
    }
    if (typeof WebAssembly !== 'undefined' && error instanceof WebAssembly.RuntimeError) return error;
    return new KazashiError('invalid_argument', error instanceof Error ? error.message : String(error), { cause: error });
  }

  // One PEM text from a PEM string or an array of them.
  function pem(value, name) {
    if (value === undefined || value === null) return undefined;
    const list = Array.isArray(value) ? value : [value];
    if (list.length === 0 || !list.every((p) => typeof p === 'string')) {
      throw new KazashiError('invalid_argument', `${name} must be PEM text or an array of PEM texts`);
    }
    return list.join('\n');
  }

  function options(value, what) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new KazashiError('invalid_argument', `${what}: options must be an object`);
    }
    return value;
  }

  function notLoaded(what) {
    return new KazashiError('not_initialized', `kazashi/offline's wasm is not loaded yet: use \`await ${what}.create()\` or \`await initialize()\` first`);
  }

  /** The reader (mdoc reader) side: reads and verifies one document per `read`. */
  class OfflineReader {
    #transport;
    #options;

    constructor(opts) {
      const { transport, issuerTrust, readerKey, readerCert, engagement, extended } = options(opts, 'new OfflineReader(options)');
      if (typeof transport !== 'function') {
        throw new KazashiError('invalid_argument', 'options.transport must be a function (apdu: Uint8Array) => Promise<Uint8Array>');
      }
      const trust = pem(issuerTrust, 'options.issuerTrust');
      if (trust === undefined) throw new KazashiError('invalid_argument', 'options.issuerTrust (the issuer roots, PEM) is required');
      if (engagement !== undefined && typeof engagement !== 'string') {
        throw new KazashiError('invalid_argument', 'options.engagement must be the QR text (mdoc:…)');
      }
      if (readerKey !== undefined && typeof readerKey !== 'string') {
        throw new KazashiError('invalid_argument', 'options.readerKey must be PEM text');
      }
      if (extended !== undefined && typeof extended !== 'boolean') {
        throw new KazashiError('invalid_argument', 'options.extended must be a boolean');
      }
      this.#transport = transport;
      this.#options = { issuerTrust: trust, readerKey, readerCert: pem(readerCert, 'options.readerCert'), engagement, extended };
    }

    /** Loads the wasm now (browsers: from `moduleOrPath`, default next to the glue). */
    static async initialize(moduleOrPath) {
      await ready(moduleOrPath);
    }

    /**
     * Reads `{ docType, items: { namespace: [element…] } }` from the phone on the transport:
     * engagement by NFC static handover (or the QR text given as `engagement`), the session,
     * verification against `issuerTrust`. Resolves to the verified document.
     */
    async read(request) {
      const { docType, items } = options(request, 'read(request)');
      const loaded = await ready();
      let terminal;
      try {
        terminal = new loaded.Terminal({ ...this.#options, docType, items });
      } catch (error) {
        throw fromGlue(error);
      }
      try {
        let command = terminal.command();
        while (command !== undefined) {
          let rapdu;
          try {
            rapdu = await this.#transport(command);
            if (!(rapdu instanceof Uint8Array)) throw new TypeError('the transport must resolve to a Uint8Array');
            // ISO/IEC 7816-4: at most 65,536 data bytes and SW1 SW2.
            if (rapdu.length > 65_538) throw new RangeError(`the transport answered ${rapdu.length} bytes: not a response APDU`);
          } catch (error) {
            // The phone left: fine only if the response was already in.
            if (terminal.transportLost()) break;
            throw new KazashiError('transport_failed', `the transport failed: ${error?.message ?? error}`, { cause: error });
          }
          command = terminal.response(rapdu);
        }
        return terminal.result();
      } catch (error) {
        throw fromGlue(error);
      } finally {
        terminal.free();
      }
    }
  }

  /** The holder (mdoc) side: the phone's documents as an ISO-DEP card, APDU in, APDU out. */
  class OfflineHolder {
    #phone;
    #onRequest;
    #onEvent;

    constructor(opts) {
      if (!glue) throw notLoaded('OfflineHolder');
      const { state, readerTrust, requireReaderAuth, engagement, auth, onRequest, onEvent, maxCommand, maxResponse } = options(opts, 'new OfflineHolder(options)');
      let json;
      if (typeof state === 'string') json = state;
      else if (state !== null && typeof state === 'object' && !Array.isArray(state)) json = JSON.stringify(state);
      else throw new KazashiError('invalid_argument', 'options.state must be the phone state as JSON text or an object');
      if (onRequest !== undefined && typeof onRequest !== 'function') throw new KazashiError('invalid_argument', 'options.onRequest must be a function');
      if (onEvent !== undefined && typeof onEvent !== 'function') throw new KazashiError('invalid_argument', 'options.onEvent must be a function');
      try {
        this.#phone = new glue.Phone(json, {
          readerTrust: pem(readerTrust, 'options.readerTrust'),
          requireReaderAuth: requireReaderAuth === true,
          engagement,
          auth,
          maxCommand,
          maxResponse,
        });
      } catch (error) {
        throw fromGlue(error);
      }
      this.#onRequest = onRequest;
      this.#onEvent = onEvent;
    }

    /** Loads the wasm if needed, then makes a holder. */
    static async create(opts) {
      await ready();
      return new OfflineHolder(opts);
    }

    #live() {
      if (!this.#phone) throw new KazashiError('disposed', 'this OfflineHolder was freed');
      return this.#phone;
    }

    /** One command APDU in, its response APDU out (synchronous). */
    transmit(apdu) {
      const phone = this.#live();
      if (!(apdu instanceof Uint8Array)) {
        throw new KazashiError('invalid_argument', 'transmit(apdu): apdu must be a Uint8Array');
      }
      return phone.transmit(apdu, this.#onRequest, this.#onEvent);
    }

    /** A new tap (the reader's field came on): NFC engages anew. Whether it did. */
    tap() {
      try {
        return this.#live().tap();
      } catch (error) {
        throw fromGlue(error);
      }
    }

    /** The current engagement as QR text (`mdoc:…`), for engagement by QR code. */
    engagementQr() {
      return this.#live().engagementQr;
    }

    /** How many documents the holder has. */
    get documents() {
      return this.#live().documents;
    }

    /** Releases the holder's wasm memory; the object is unusable afterwards. */
    free() {
      const phone = this.#phone;
      this.#phone = undefined;
      phone?.free();
    }

    [dispose]() {
      this.free();
    }
  }

  return {
    OfflineReader,
    OfflineHolder,
    async initialize(input) {
      await ready(input);
    },
  };
}
