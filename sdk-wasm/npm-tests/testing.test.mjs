// `kazashi/testing`: the virtual secure element on its own (no server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KazashiError } from 'kazashi';
import { VirtualSecureElement, initialize } from 'kazashi/testing';

const hex = (bytes) => Buffer.from(bytes).toString('hex').toUpperCase();
const apdu = (text) => new Uint8Array(Buffer.from(text, 'hex'));
const ID_STORE_AID = 'F06B617A6173686901';

function throwsCode(fn, code, what = '') {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof KazashiError, `${what}: ${error?.stack ?? error}`);
    assert.equal(error.code, code, `${what}: ${error.message}`);
    return true;
  });
}

test('a random card answers like a GlobalPlatform card: SELECT, GET DATA 0045, no secure channel', async () => {
  await initialize();
  const se = await VirtualSecureElement.create();
  assert.match(se.chipId, /^[0-9A-F]{16}$/);
  const select = se.transmit(apdu('00A4040000'));
  assert.ok(select instanceof Uint8Array);
  assert.equal(hex(select.slice(-2)), '9000');
  assert.equal(select[0], 0x6f, 'an FCI');
  assert.equal(hex(se.transmit(apdu('80CA004500'))), `4508${se.chipId}9000`);
  // The ID-store applet refuses its commands outside a secure channel.
  assert.equal(hex(se.transmit(apdu(`00A4040009${ID_STORE_AID}00`)).slice(-2)), '9000');
  // GET RECORD (namespace "a", name "b"): a secure channel is needed first.
  assert.equal(hex(se.transmit(apdu('80D2000006800161810162' + '00'))), '6982');
  // Malformed commands get a status word, never an exception.
  for (const bad of ['', '00', '00A404', '01A4040000', 'FFFFFFFF', '00A4040005A0']) {
    const answer = se.transmit(apdu(bad));
    assert.equal(answer.length, 2, bad);
    assert.notEqual(hex(answer), '9000', bad);
  }
  // Two random cards are two chips.
  const other = new VirtualSecureElement();
  assert.notEqual(other.chipId, se.chipId);
  se.free();
  other.free();
});

test('state goes out and back in the state file format; a bad state is refused', () => {
  const se = new VirtualSecureElement();
  const exported = se.exportState();
  const state = JSON.parse(exported);
  assert.equal(state.version, 1);
  assert.equal(state.profile.cin, se.chipId);
  assert.match(state.profile.keys.enc, /^[0-9A-F]{32}$/);

  // INITIALIZE UPDATE moves the sequence counter; the export shows it.
  se.transmit(apdu('00A4040000'));
  const init = se.transmit(apdu('8050300008' + '0102030405060708' + '00'));
  assert.equal(hex(init.slice(-2)), '9000');
  const after = JSON.parse(se.exportState());
  assert.equal(after.profile.sequence_counter, state.profile.sequence_counter + 1);

  // A copy from the first export is the same chip as it was; importState rewinds this one.
  const copy = new VirtualSecureElement(exported);
  assert.equal(copy.chipId, se.chipId);
  se.importState(state);
  assert.equal(JSON.parse(se.exportState()).profile.sequence_counter, state.profile.sequence_counter);
  assert.equal(new VirtualSecureElement(JSON.parse(exported)).chipId, se.chipId, 'an object works too');

  const bad = [
    'not json',
    '{}',
    JSON.stringify({ ...state, version: 2 }),
    JSON.stringify({ ...state, profile: { ...state.profile, kdd: '00' } }),
    JSON.stringify({ ...state, profile: { ...state.profile, keys: { ...state.profile.keys, mac: 'ZZ' } } }),
    JSON.stringify({ ...state, profile: { ...state.profile, sequence_counter: 2 ** 24 } }),
  ];
  for (const text of bad) {
    throwsCode(() => new VirtualSecureElement(text), 'invalid_state', text.slice(0, 40));
    throwsCode(() => se.importState(text), 'invalid_state', text.slice(0, 40));
  }
  // A refused import leaves the card as it was.
  assert.equal(se.chipId, state.profile.cin);
  throwsCode(() => new VirtualSecureElement(42), 'invalid_argument');
  throwsCode(() => new VirtualSecureElement(null), 'invalid_argument');
  throwsCode(() => se.transmit('00A4040000'), 'invalid_argument');
  throwsCode(() => se.transmit([0, 0xa4, 4, 0]), 'invalid_argument');
  const cyclic = {};
  cyclic.self = cyclic;
  throwsCode(() => se.importState(cyclic), 'invalid_state');
});

test('free() and Symbol.dispose release the card; later use throws disposed', () => {
  const se = new VirtualSecureElement();
  se[Symbol.dispose]();
  throwsCode(() => se.transmit(apdu('00A4040000')), 'disposed');
  throwsCode(() => se.chipId, 'disposed');
  throwsCode(() => se.exportState(), 'disposed');
  throwsCode(() => se.importState('{}'), 'disposed');
  se.free(); // twice is harmless
  // Many cards made and freed leave the wasm memory as it was.
  for (let i = 0; i < 2000; i++) new VirtualSecureElement().free();
});
