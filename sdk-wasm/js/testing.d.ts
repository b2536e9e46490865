// Types of `kazashi/testing`: a virtual secure element for tests and demos.

/**
 * A virtual secure element in memory: kazashi-se's card (a GlobalPlatform issuer security
 * domain with SCP03 and kazashi's ID-store applet, docs/applet.md) compiled to wasm. Use it as
 * `Relay` transport to run real transactions without a phone:
 *
 * ```js
 * import { Relay } from 'kazashi';
 * import { VirtualSecureElement } from 'kazashi/testing';
 *
 * // state: what `kazashi-server chip personalize --state chip.json` wrote
 * using se = await VirtualSecureElement.create(state);
 * const token = await new Relay({ transport: (apdu) => se.transmit(apdu) }).run(launchUrl);
 * ```
 *
 * Its wasm is a module of its own: importing `kazashi` alone never loads it. Failures throw
 * the main entry's `KazashiError`: `invalid_state`, `invalid_argument`, `disposed` (used
 * after {@link VirtualSecureElement.free}), `not_initialized` (the constructor before the
 * wasm is loaded, in browsers), `wasm_load_failed`.
 */
export declare class VirtualSecureElement {
  /**
   * A card from `state` — a state file's JSON (as a string or parsed) — or, without it, with
   * a random profile (a chip no server knows). In browsers the wasm must be loaded first
   * (`await initialize()`, or use {@link VirtualSecureElement.create}).
   */
  constructor(state?: string | object);
  /** Loads the wasm if needed, then makes a card. */
  static create(state?: string | object): Promise<VirtualSecureElement>;
  /** The chip's identity as a server knows it: its card image number, upper-case hex. */
  readonly chipId: string;
  /**
   * One command APDU in, its response APDU (data ‖ SW1 SW2) out, synchronously. A malformed
   * command gets the status word a card would answer. Every change of state (a counter, a
   * record, the SCP03 sequence counter) is kept before the response, as on a card.
   */
  transmit(apdu: Uint8Array): Uint8Array;
  /**
   * The card's state as JSON: the state file's format, keys included (keep it as secret as
   * the chip's keys). Feed it to {@link importState} or to a new card to resume.
   */
  exportState(): string;
  /** Replaces the card's state, as after a power cycle (no session, the ISD selected). */
  importState(state: string | object): void;
  /** Releases the card's wasm memory; any later use throws `disposed`. */
  free(): void;
  /** {@link free}, for `using se = …`. */
  [Symbol.dispose](): void;
}

/**
 * Loads kazashi/testing's wasm now. In browsers, `moduleOrPath` may be a URL, a `Response`,
 * bytes or a `WebAssembly.Module` (default: `web/kazashi_sdk_testing_wasm_bg.wasm` next to
 * `testing.js`). In Node it is loaded on import and this does nothing.
 */
export declare function initialize(moduleOrPath?: unknown): Promise<void>;
