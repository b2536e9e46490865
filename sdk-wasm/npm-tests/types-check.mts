// Type-checked (never run) by types.test.mjs with `tsc --strict`: the package's declarations
// for the relay, kazashi/testing and kazashi/offline, as an application would use them (ESM).
import { Relay, KazashiError, verifyResult, type RelayEvent, type Transport } from 'kazashi';
import { VirtualSecureElement, initialize } from 'kazashi/testing';

export async function relayed(launchUrl: string, state: string): Promise<string> {
  await initialize();
  const se: VirtualSecureElement = await VirtualSecureElement.create(state);
  const transport: Transport = (apdu) => se.transmit(apdu);
  const seen: string[] = [];
  const relay = new Relay({
    transport,
    networkRetries: 3,
    onEvent: (event: RelayEvent) => {
      if (event.type === 'apdu' && event.direction !== 'error') seen.push(event.hex);
      if (event.type === 'http' && event.direction === 'response') seen.push(String(event.status));
    },
  });
  try {
    const token: string = await relay.run(new URL(launchUrl));
    const result = await verifyResult(token, { serverKeys: { keys: [] }, issuer: 'i', audience: 'a' });
    const chip: string = se.chipId;
    const exported: string = se.exportState();
    se.importState(JSON.parse(exported) as object);
    return `${result.status} ${chip}`;
  } catch (error) {
    if (error instanceof KazashiError && error.code === 'card_error') return error.message;
    throw error;
  } finally {
    se[Symbol.dispose]();
  }
}

// @ts-expect-error: the transport is required.
new Relay({});
// @ts-expect-error: transmit takes bytes.
new VirtualSecureElement().transmit('00A4040000');

// kazashi/offline: both roles, as a phone app shell would use them.
import { OfflineReader, OfflineHolder, type OfflineDocument } from 'kazashi/offline';

export async function phoneToPhone(state: string, root: string): Promise<string> {
  using holder = await OfflineHolder.create({
    state,
    readerTrust: [root],
    requireReaderAuth: true,
    onRequest: ({ items, reader }) => (reader === null ? false : items),
    onEvent: (event) => void event.type,
  });
  holder.tap();
  const qr: string = holder.engagementQr();
  const reader = new OfflineReader({ transport: async (apdu) => holder.transmit(apdu), issuerTrust: root, engagement: qr });
  const doc: OfflineDocument = await reader.read({ docType: 'org.iso.18013.5.1.mDL', items: { 'org.iso.18013.5.1': ['portrait'] } });
  const portrait = doc.items['org.iso.18013.5.1'].portrait;
  return `${doc.deviceAuth} ${doc.validity.validUntil} ${portrait instanceof Uint8Array ? portrait.length : 0}`;
}

// @ts-expect-error: the issuer roots are required.
new OfflineReader({ transport: async (apdu: Uint8Array) => apdu });
