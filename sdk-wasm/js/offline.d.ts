// Types of `kazashi/offline`: ISO/IEC 18013-5 (mdoc) over NFC APDUs, the reader and the holder.

/**
 * The reader side (an "mdoc reader"): reads one document from a phone per {@link read}, over
 * the app's APDU transport — NFC (ISO-DEP) on a phone, PC/SC, or anything that carries command
 * APDUs to the holder and brings back its responses.
 *
 * ```js
 * import { OfflineReader } from 'kazashi/offline';
 *
 * const reader = new OfflineReader({
 *   transport: (apdu) => nfc.transceive(apdu),   // async (Uint8Array) => Uint8Array
 *   issuerTrust: [iacaRootPem],
 * });
 * const doc = await reader.read({
 *   docType: 'org.iso.18013.5.1.mDL',
 *   items: { 'org.iso.18013.5.1': ['family_name', 'age_over_18'] },
 * });
 * doc.items['org.iso.18013.5.1'].family_name; // verified
 * ```
 *
 * Engagement is by NFC static handover (the phone's NDEF tag, read over the same transport)
 * unless `engagement` gives the QR code's text. Failures throw the main entry's
 * `KazashiError` with a stable code: the offline layer's (`not_trusted`,
 * `invalid_issuer_signature`, `digest_mismatch`, `decryption_failed`, `session_terminated`,
 * `unexpected_status_word`, `invalid_engagement_uri`, … as in docs/offline.md),
 * `no_document` (the phone returned none: refused or not held), `transport_failed` (the
 * transport threw or answered something else than a response APDU), `invalid_argument`,
 * `invalid_key`, `invalid_certificate`, `wasm_load_failed`.
 */
export declare class OfflineReader {
  constructor(options: OfflineReaderOptions);
  /** Loads the wasm now (browsers: from `moduleOrPath`; default next to `offline.js`). */
  static initialize(moduleOrPath?: unknown): Promise<void>;
  /** Reads and verifies one document (see the class). */
  read(request: OfflineRequest): Promise<OfflineDocument>;
}

/** Options of {@link OfflineReader}. */
export interface OfflineReaderOptions {
  /**
   * Sends one command APDU to the holder and resolves to its response APDU (data ‖ SW1 SW2).
   * Throwing (the phone left) ends the read with `transport_failed`, unless the document was
   * already received.
   */
  transport: (apdu: Uint8Array) => Promise<Uint8Array> | Uint8Array;
  /** The issuer roots (IACA certificates), PEM: one text or several. */
  issuerTrust: string | string[];
  /** Reader authentication: the reader's P-256 private key, PEM (SEC1 or PKCS#8). */
  readerKey?: string;
  /** Reader authentication: its certificate chain, PEM, leaf first. */
  readerCert?: string | string[];
  /** The QR code's text (`mdoc:…`): engagement by QR instead of NFC static handover. */
  engagement?: string;
  /** Whether the transport takes extended-length APDUs (default `true`). */
  extended?: boolean;
}

/** What to read: the document type and `{ namespace: [element, …] }`. */
export interface OfflineRequest {
  docType: string;
  items: Record<string, string[]>;
}

/** A data element's value, as decoded from CBOR. */
export type OfflineValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | OfflineValue[]
  | { [key: string]: OfflineValue }
  | { tag: number; value: OfflineValue };

/** A verified document. */
export interface OfflineDocument {
  docType: string;
  /**
   * The released items, `{ namespace: { element: value } }`: byte strings as `Uint8Array`,
   * dates (full-date, tdate) as their text, integers beyond 2⁵³ as `bigint`.
   */
  items: Record<string, Record<string, OfflineValue>>;
  /** The document signer certificate's subject and issuer (RFC 4514 text). */
  issuer: { subject: string; issuer: string };
  /** How the phone authenticated the response. */
  deviceAuth: 'signature' | 'mac';
  /** The mobile security object's validity (RFC 3339). */
  validity: { signed: string; validFrom: string; validUntil: string };
  /** How the engagement came. */
  engagement: 'nfc' | 'qr';
  /** Whether the request was signed (reader authentication). */
  readerAuth: boolean;
}

/**
 * The holder side (the "mdoc"): the phone's documents as an ISO-DEP card — give it each
 * command APDU the reader sends (host card emulation on a phone, a virtual card in tests) and
 * send back what {@link transmit} returns. It serves the NDEF tag for NFC static handover (or
 * shows {@link engagementQr}), answers requests under its reader-authentication policy and
 * the person's consent ({@link OfflineHolderOptions.onRequest}), and authenticates its answers
 * with the device key of its state.
 *
 * Failures throw the main entry's `KazashiError`: `invalid_state`, `invalid_argument`,
 * `invalid_certificate`, `not_initialized` (the constructor before the wasm is loaded, in
 * browsers), `disposed`, `wasm_load_failed`. A reader's bad command is answered with a status
 * word, never thrown.
 */
export declare class OfflineHolder {
  /** In browsers the wasm must be loaded first (or use {@link OfflineHolder.create}). */
  constructor(options: OfflineHolderOptions);
  /** Loads the wasm if needed, then makes a holder. */
  static create(options: OfflineHolderOptions): Promise<OfflineHolder>;
  /** One command APDU in, its response APDU out, synchronously. */
  transmit(apdu: Uint8Array): Uint8Array;
  /**
   * A new tap (the reader's field came on, the card was reset): NFC engagement starts anew;
   * a QR engagement stays until a session used it. Returns whether a new engagement was made.
   */
  tap(): boolean;
  /** The current engagement as QR text (`mdoc:…`). */
  engagementQr(): string;
  /** How many documents the holder has. */
  readonly documents: number;
  /** Releases the holder's wasm memory; any later use throws `disposed`. */
  free(): void;
  /** {@link free}, for `using holder = …`. */
  [Symbol.dispose](): void;
}

/** Options of {@link OfflineHolder}. */
export interface OfflineHolderOptions {
  /**
   * The phone's document state, JSON text or parsed: `{ device_key: { software: hex },
   * documents: [{ doc_type, issuer_signed: hex }] }` — the format of `kazashi-kiosk issue
   * --state FILE` (a software device key; a chip-bound one is refused). It holds the device
   * key: keep it as secret.
   */
  state: string | object;
  /** The reader roots: a signed request must verify against them. */
  readerTrust?: string | string[];
  /** Refuse requests without valid reader authentication (needs `readerTrust`). */
  requireReaderAuth?: boolean;
  /** `'nfc'` (default: NFC static handover) or `'qr'` ({@link OfflineHolder.engagementQr}). */
  engagement?: 'nfc' | 'qr';
  /** Device authentication: `'signature'` (default) or `'mac'`. */
  auth?: 'signature' | 'mac';
  /**
   * The person's consent, called synchronously for each requested document the holder has:
   * answer with the items to release (`{ namespace: [element, …] }`, a subset of `items`),
   * `true` for all, anything else (or throwing) to decline. `reader` is the authenticated
   * reader certificate's subject, or `null`. Without it, everything requested is released.
   */
  onRequest?: (request: {
    docType: string;
    reader: string | null;
    items: Record<string, string[]>;
  }) => Record<string, string[]> | boolean;
  /**
   * Observes the session: `reader_authenticated` (`subject`), `reader_not_authenticated`,
   * `refused` (`docType`, `reason`: `reader_auth_required`, `not_held`, `declined`, or a
   * reader-authentication error code), `released` (`docType`, `items`), `session_ended`,
   * `message_refused` (`code`), `cannot_answer` (`reason`). A write at the counter
   * (`kazashi-kiosk write`) is not accepted by this holder: `write_requested` (`docType`,
   * `subject`, when the terminal authenticated) then `write_refused` (`code`).
   */
  onEvent?: (event: { type: string; [field: string]: unknown }) => void;
  /** Largest command data field announced (1–65,535; default 65,535). */
  maxCommand?: number;
  /** Largest response data field announced (1–65,536; default 65,536). */
  maxResponse?: number;
}

/**
 * Loads kazashi/offline's wasm now. In browsers, `moduleOrPath` may be a URL, a `Response`,
 * bytes or a `WebAssembly.Module` (default: `web/kazashi_sdk_offline_wasm_bg.wasm` next to
 * `offline.js`). In Node it is loaded on import and this does nothing.
 */
export declare function initialize(moduleOrPath?: unknown): Promise<void>;
