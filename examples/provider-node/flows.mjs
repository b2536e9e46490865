// The demo provider's three services, as sequences of chip commands. Each step builds the
// operations of one command from what the previous verified result said; the backend runs a
// step, waits for its verified result, then builds the next.

import { calculateJwkThumbprint } from 'kazashi';

const utf8 = new TextEncoder();
const b64u = (text) => Buffer.from(utf8.encode(text)).toString('base64url');
const fromB64u = (data) => Buffer.from(data, 'base64url').toString('utf8');

/** The resident the demo's city hall knows (a made-up person). */
export const RESIDENT = {
  name: { ja: '山田 花子', en: 'Hanako Yamada' },
  born: '1958-04-12',
  address: { ja: 'みどり市 中央 1-2-3', en: '1-2-3 Chuo, Midori City' },
};

export const flows = {
  // A resident ID: a key pair generated on the chip (its private half never leaves it), then
  // a certificate record naming that key written beside it, and read back.
  // Each issuance makes a new key (the chip never overwrites a key: 6A89), named after the
  // certificate's serial.
  'resident-id': [
    () => [{ op: 'keygen', key: `rk-${Date.now().toString(36)}` }],
    async (previous, ops) => {
      const jwk = previous.results[0].jwk;
      const certificate = {
        type: 'resident-certificate',
        issuer: 'Midori City Hall',
        serial: `MC-${ops[0].key.slice(3).toUpperCase()}`,
        ...RESIDENT,
        keyName: ops[0].key,
        key: await calculateJwkThumbprint(jwk),
        issued: new Date().toISOString().slice(0, 10),
      };
      return [
        { op: 'put', record: 'resident-id', data: b64u(JSON.stringify(certificate)) },
        { op: 'get', record: 'resident-id' },
      ];
    },
  ],
  // A membership card with points: the card record (written once), 100 points added.
  'points-add': [
    () => [
      {
        op: 'put',
        record: 'member-card',
        data: b64u(JSON.stringify({ type: 'member-card', number: 'M-000417', tier: 'silver', name: RESIDENT.name })),
      },
      { op: 'add', counter: 'points', amount: 100 },
    ],
  ],
  // Spending: the chip refuses to go below zero.
  'points-spend': [() => [{ op: 'sub', counter: 'points', amount: 30 }]],
  // Showing the membership: a read.
  membership: [() => [{ op: 'get', record: 'member-card' }]],
};

/** What a verified result says, for the page: each operation's outcome, decoded. */
export function describe(ops, result) {
  return ops.map((op, i) => {
    const r = result.results[i] ?? { status: 'skipped' };
    const out = { op: op.op, name: op.record ?? op.counter ?? op.key, status: r.status };
    if (r.data !== undefined) {
      const text = fromB64u(r.data);
      try {
        out.record = JSON.parse(text);
      } catch {
        out.text = text;
      }
    }
    if (r.value !== undefined) out.value = r.value;
    if (r.jwk !== undefined) out.jwk = r.jwk;
    if (r.sw !== undefined) out.sw = r.sw;
    if (r.error !== undefined) out.error = r.error;
    return out;
  });
}
