// The phone in the page: the npm package's common app (`Relay`) with a virtual chip
// (`VirtualSecureElement` from `kazashi/testing`). The chip's state lives with the demo's
// simulated phone (GET/PUT /phone on the demo host), so it survives page loads. Everything the
// common app sends and receives is logged: it is all the phone ever sees.

import { Relay } from 'kazashi';
import { VirtualSecureElement } from 'kazashi/testing';

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('').toUpperCase();
const MAX_LOGGED = 200;

export async function openPhone({ log, exchanges, apdus }) {
  const response = await fetch('/phone');
  if (!response.ok) throw new Error(`the phone's chip could not be loaded (HTTP ${response.status})`);
  const { state } = await response.json();
  const element = await VirtualSecureElement.create(state);
  const chip = element.chipId;
  let apduCount = 0;
  let exchangeCount = 0;

  function line(direction, bytes) {
    if (log.childElementCount >= MAX_LOGGED) return;
    const item = document.createElement('li');
    item.className = direction;
    item.dataset.hex = hex(bytes);
    item.textContent = `${direction === 'c' ? '→' : '←'} ${hex(bytes.length > 40 ? bytes.subarray(0, 40) : bytes)}${bytes.length > 40 ? '…' : ''}`;
    log.append(item);
  }

  async function transport(apdu) {
    line('c', apdu);
    const answer = element.transmit(apdu);
    line('r', answer);
    apduCount++;
    apdus.textContent = String(apduCount);
    return answer;
  }

  // Counts the common app's HTTP exchanges with the server.
  async function countingFetch(input, init) {
    exchangeCount++;
    exchanges.textContent = String(exchangeCount);
    return fetch(input, init);
  }

  return {
    chip,
    reset() {
      log.replaceChildren();
      apduCount = 0;
      exchangeCount = 0;
      apdus.textContent = '0';
      exchanges.textContent = '0';
    },
    /** Runs a launch URL; returns the result token and what it took. */
    async run(launchUrl) {
      const before = { apdus: apduCount, exchanges: exchangeCount };
      const relay = new Relay({ transport, fetch: countingFetch });
      let token;
      try {
        token = await relay.run(launchUrl);
      } finally {
        // The chip's state changed (counters, records): the phone keeps it.
        await fetch('/phone/state', { method: 'PUT', body: element.exportState() });
      }
      return { token, apdus: apduCount - before.apdus, exchanges: exchangeCount - before.exchanges };
    },
  };
}
