// The same declarations seen from CommonJS (`require`).
import kazashi = require('kazashi');
import testing = require('kazashi/testing');

export function relay(se: testing.VirtualSecureElement): kazashi.Relay {
  return new kazashi.Relay({ transport: (apdu: Uint8Array) => se.transmit(apdu) });
}

import offline = require('kazashi/offline');

export function holderOf(state: string): offline.OfflineHolder {
  return new offline.OfflineHolder({ state, auth: 'mac' });
}
