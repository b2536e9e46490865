// `kazashi/testing`: a virtual secure element (kazashi-se's VirtualCard, in wasm) for tests and
// demos of a relay without a phone. Its wasm is a module of its own
// (`kazashi_sdk_testing_wasm_bg.wasm`), loaded only by this entry.
//
// `cargo xtask sdk` derives `testing-api.cjs` from this file: keep the one export a top-level
// `export function`, and import nothing.

/**
 * Builds the entry over a wasm-bindgen glue module: `load(input)` resolves to the initialized
 * glue; `loaded`, when given, is the glue already initialized (Node).
 */
export function createTesting(load, loaded, KazashiError) {
  let glue = loaded;
  let loading;
  const dispose = Symbol.dispose ?? Symbol.for('Symbol.dispose');

  function ready(input) {
    if (glue) return glue;
    loading ??= Promise.resolve(load(input)).then(
      (loadedGlue) => (glue = loadedGlue),
      (error) => {
        loading = undefined;
        throw new KazashiError('wasm_load_failed', `could not load kazashi/testing's wasm: ${error?.message ?? error}`, { cause: error });
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

  function stateText(state, what) {
    if (typeof state === 'string') return state;
    if (state !== null && typeof state === 'object' && !Array.isArray(state)) {
      try {
        return JSON.stringify(state);
      } catch (error) {
        throw new KazashiError('invalid_state', `${what}: ${error?.message ?? error}`, { cause: error });
      }
    }
    throw new KazashiError('invalid_argument', `${what} must be a JSON string or an object`);
  }

  /** A virtual secure element in memory: an ISD with SCP03 and kazashi's ID-store applet. */
  class VirtualSecureElement {
    #card;

    constructor(state) {
      if (!glue) {
        throw new KazashiError('not_initialized', "kazashi/testing's wasm is not loaded yet: use `await VirtualSecureElement.create()` or `await initialize()` first");
      }
      const json = state === undefined ? undefined : stateText(state, 'state');
      try {
        this.#card = new glue.VirtualCard(json);
      } catch (error) {
        throw fromGlue(error);
      }
    }

    /** Loads the wasm if needed, then makes a card (from `state`, or a random profile). */
    static async create(state) {
      await ready();
      return new VirtualSecureElement(state);
    }

    #live() {
      if (!this.#card) throw new KazashiError('disposed', 'this VirtualSecureElement was freed');
      return this.#card;
    }

    /** The chip's identity: its card image number, upper-case hex. */
    get chipId() {
      return this.#live().chipId;
    }

    /** One command APDU in, its response APDU out (synchronous). */
    transmit(apdu) {
      const card = this.#live();
      if (!(apdu instanceof Uint8Array)) {
        throw new KazashiError('invalid_argument', 'transmit(apdu): apdu must be a Uint8Array');
      }
      return card.transmit(apdu);
    }

    /** The card's state as JSON (its keys included). */
    exportState() {
      try {
        return this.#live().exportState();
      } catch (error) {
        throw fromGlue(error);
      }
    }

    /** Replaces the card's state (JSON or object), as after a power cycle. */
    importState(state) {
      const card = this.#live();
      const json = stateText(state, 'importState(state)');
      try {
        card.importState(json);
      } catch (error) {
        throw fromGlue(error);
      }
    }

    /** Releases the card's wasm memory; the object is unusable afterwards. */
    free() {
      const card = this.#card;
      this.#card = undefined;
      card?.free();
    }

    [dispose]() {
      this.free();
    }
  }

  return {
    VirtualSecureElement,
    async initialize(input) {
      await ready(input);
    },
  };
}
