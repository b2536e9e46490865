// kazashi/offline against the Rust roles, both directions (issue #8, phone to phone):
//  (a) the JS OfflineReader reads `kazashi-kiosk phone` — a vpcd card client — with Node
//      playing vpcd (the TCP side pcscd's driver would be) and carrying the reader's APDUs;
//  (b) the JS OfflineHolder is read by `kazashi-kiosk read` through a private pcscd: Node
//      connects to its vpcd port as the card and answers with `holder.transmit`.
// Documents come from `kazashi-kiosk pki` and `kazashi-kiosk issue`. The kiosk binary is
// KAZASHI_KIOSK (`cargo xtask sdk test` builds it).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync, openSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KazashiError } from 'kazashi';
import { OfflineReader, OfflineHolder } from 'kazashi/offline';

const KIOSK = process.env.KAZASHI_KIOSK;
const DOC = 'org.iso.18013.5.1.mDL';
const NS = 'org.iso.18013.5.1';
const PORTRAIT = Uint8Array.from({ length: 700 }, (_, i) => (i * 7) & 0xff);
const dir = mkdtempSync(join(tmpdir(), 'kazashi-offline-'));
const children = [];
after(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function kiosk(args) {
  const out = spawnSync(KIOSK, args, { encoding: 'utf8' });
  assert.equal(out.status, 0, `kazashi-kiosk ${args.join(' ')}: ${out.stderr}`);
  return out.stdout;
}

assert.ok(KIOSK && existsSync(KIOSK), 'KAZASHI_KIOSK must name the kazashi-kiosk binary (`cargo xtask sdk test` builds it)');
const pki = join(dir, 'pki');
kiosk(['pki', '--out', pki]);
const pem = (name) => readFileSync(join(pki, name), 'utf8');
const statePath = join(dir, 'phone.json');
writeFileSync(join(dir, 'portrait.bin'), PORTRAIT);
kiosk([
  'issue', '--state', statePath, '--issuer-cert', join(pki, 'issuer.pem'), '--issuer-key', join(pki, 'issuer.key'),
  '--doctype', DOC,
  '--item', `${NS}:family_name=Yamada`,
  '--item', `${NS}:given_name=Hanako`,
  '--item', `${NS}:age_over_18=true`,
  '--item', `${NS}:portrait=@${join(dir, 'portrait.bin')}`,
]);
const state = readFileSync(statePath, 'utf8');
const REQUEST = { docType: DOC, items: { [NS]: ['family_name', 'age_over_18', 'portrait'] } };

// --- vpcd framing: 2-byte big-endian length, then the payload; 1-byte payloads are control
// (0x00 power off, 0x01 power on, 0x02 reset, 0x04 get ATR), longer ones APDUs. ---

const frame = (payload) => {
  const out = new Uint8Array(2 + payload.length);
  out[0] = payload.length >> 8;
  out[1] = payload.length & 0xff;
  out.set(payload, 2);
  return out;
};

// Splits a byte stream into frames.
function frames(socket, onFrame) {
  let buffered = new Uint8Array(0);
  socket.on('data', (chunk) => {
    const next = new Uint8Array(buffered.length + chunk.length);
    next.set(buffered);
    next.set(chunk, buffered.length);
    buffered = next;
    while (buffered.length >= 2) {
      const len = (buffered[0] << 8) | buffered[1];
      if (buffered.length < 2 + len) break;
      onFrame(buffered.slice(2, 2 + len));
      buffered = buffered.slice(2 + len);
    }
  });
}

// The vpcd side for a card client: accepts its connection, powers it on (a new tap) and
// carries APDUs to it.
async function vpcdHost() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise((resolve) => server.once('connection', resolve));
  return {
    port: server.address().port,
    async connected() {
      const socket = await accepted;
      socket.setNoDelay(true);
      const waiting = [];
      frames(socket, (payload) => waiting.shift()?.resolve(payload));
      socket.on('close', () => {
        for (const w of waiting.splice(0)) w.reject(Object.assign(new Error('the phone left'), { code: 'card_removed' }));
      });
      const request = (payload) =>
        new Promise((resolve, reject) => {
          waiting.push({ resolve, reject });
          socket.write(frame(payload));
        });
      return {
        tap: () => socket.write(frame(Uint8Array.of(0x01))),
        atr: () => request(Uint8Array.of(0x04)),
        transmit: (apdu) => request(apdu),
        close: () => {
          socket.destroy();
          server.close();
        },
      };
    },
  };
}

// A `kazashi-kiosk phone` connected to a fresh vpcd host; its stderr is collected.
async function rustPhone(extra = []) {
  const host = await vpcdHost();
  const child = spawn(KIOSK, ['phone', '--vpcd', `127.0.0.1:${host.port}`, '--state', statePath, ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let log = '';
  child.stderr.on('data', (c) => (log += c));
  const card = await host.connected();
  return { card, log: () => log, stop: () => (card.close(), child.kill('SIGKILL')) };
}

function assertDocument(doc, { deviceAuth, engagement, readerAuth }) {
  assert.equal(doc.docType, DOC);
  assert.equal(doc.items[NS].family_name, 'Yamada');
  assert.equal(doc.items[NS].age_over_18, true);
  assert.ok(doc.items[NS].portrait instanceof Uint8Array);
  assert.deepEqual(doc.items[NS].portrait, PORTRAIT);
  assert.equal(doc.items[NS].given_name, undefined, 'not requested, not released');
  assert.equal(doc.issuer.subject, 'CN=kazashi test issuer,C=JP');
  assert.equal(doc.deviceAuth, deviceAuth);
  assert.equal(doc.engagement, engagement);
  assert.equal(doc.readerAuth, readerAuth);
  assert.match(doc.validity.validUntil, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
}

async function rejectsWith(promise, code) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof KazashiError, `a KazashiError: ${error?.stack ?? error}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

// ------------------------------------------------------------------------------------------
// (a) the JS reader against the Rust phone

test('OfflineReader reads kazashi-kiosk phone over NFC static handover, and refuses an untrusted issuer', async () => {
  const phone = await rustPhone();
  try {
    const { card } = phone;
    assert.deepEqual([...(await card.atr()).subarray(4, 16)], [...new TextEncoder().encode('kazashi-mdoc')]);
    let apdus = 0;
    const reader = new OfflineReader({
      transport: (apdu) => (apdus++, card.transmit(apdu)),
      issuerTrust: [pem('issuer-root.pem')],
    });
    card.tap();
    assertDocument(await reader.read(REQUEST), { deviceAuth: 'signature', engagement: 'nfc', readerAuth: false });
    // NDEF tag (SELECT, CC, READ, SELECT, NLEN, message), SELECT, request, goodbye.
    assert.ok(apdus >= 9, `${apdus} APDUs`);

    // Short APDUs only: the response comes in GET RESPONSE chunks.
    card.tap();
    let shortApdus = 0;
    const short = new OfflineReader({
      transport: (apdu) => (shortApdus++, card.transmit(apdu)),
      issuerTrust: pem('issuer-root.pem'),
      extended: false,
    });
    assertDocument(await short.read(REQUEST), { deviceAuth: 'signature', engagement: 'nfc', readerAuth: false });
    assert.ok(shortApdus > apdus, `short: ${shortApdus} APDUs, extended: ${apdus}`);

    // The reader root is no issuer root.
    card.tap();
    const untrusted = new OfflineReader({ transport: (apdu) => card.transmit(apdu), issuerTrust: pem('reader-root.pem') });
    await rejectsWith(untrusted.read(REQUEST), 'not_trusted');

    // A document the phone does not hold.
    card.tap();
    const trusted = new OfflineReader({ transport: (apdu) => card.transmit(apdu), issuerTrust: pem('issuer-root.pem') });
    await rejectsWith(trusted.read({ docType: 'org.example.none', items: { x: ['y'] } }), 'no_document');

    // The phone leaves in the middle: the transport throws.
    card.tap();
    let sent = 0;
    const leaving = new OfflineReader({
      transport: (apdu) => (++sent === 8 ? Promise.reject(new Error('tag lost')) : card.transmit(apdu)),
      issuerTrust: pem('issuer-root.pem'),
    });
    await rejectsWith(leaving.read(REQUEST), 'transport_failed');
    // A transport that answers garbage.
    const garbage = new OfflineReader({ transport: async () => Uint8Array.of(0x90), issuerTrust: pem('issuer-root.pem') });
    await rejectsWith(garbage.read(REQUEST), 'invalid_apdu');
  } finally {
    phone.stop();
  }
});

test('OfflineReader with reader authentication against a phone that requires it', async () => {
  const phone = await rustPhone(['--require-reader-auth', '--reader-trust', join(pki, 'reader-root.pem')]);
  try {
    const { card } = phone;
    card.tap();
    const authenticated = new OfflineReader({
      transport: (apdu) => card.transmit(apdu),
      issuerTrust: pem('issuer-root.pem'),
      readerKey: pem('reader.key'),
      readerCert: pem('reader.pem'),
    });
    assertDocument(await authenticated.read(REQUEST), { deviceAuth: 'signature', engagement: 'nfc', readerAuth: true });
    assert.match(phone.log(), /reader authenticated: CN=kazashi test reader,C=JP/);

    card.tap();
    const anonymous = new OfflineReader({ transport: (apdu) => card.transmit(apdu), issuerTrust: pem('issuer-root.pem') });
    await rejectsWith(anonymous.read(REQUEST), 'no_document');
    assert.match(phone.log(), /refused org\.iso\.18013\.5\.1\.mDL \(reader_auth_required\)/);

    // A reader certificate from another root (the issuer's) is refused as well.
    card.tap();
    const wrongRoot = new OfflineReader({
      transport: (apdu) => card.transmit(apdu),
      issuerTrust: pem('issuer-root.pem'),
      readerKey: pem('issuer.key'),
      readerCert: pem('issuer.pem'),
    });
    await rejectsWith(wrongRoot.read(REQUEST), 'no_document');
  } finally {
    phone.stop();
  }
});

test('OfflineReader with QR engagement against a phone showing one (device MAC)', async () => {
  const qrFile = join(dir, 'qr.txt');
  const phone = await rustPhone(['--engagement', 'qr', '--qr-out', qrFile, '--auth', 'mac']);
  try {
    const { card } = phone;
    card.tap();
    await card.atr(); // in order: the phone has its QR written once it answers
    const qr = readFileSync(qrFile, 'utf8').trim();
    assert.match(qr, /^mdoc:/);
    const reader = new OfflineReader({ transport: (apdu) => card.transmit(apdu), issuerTrust: pem('issuer-root.pem'), engagement: qr });
    assertDocument(await reader.read(REQUEST), { deviceAuth: 'mac', engagement: 'qr', readerAuth: false });
    // The QR of a finished session does not open another one.
    card.tap();
    await assert.rejects(reader.read(REQUEST), (e) => e instanceof KazashiError && e.code !== 'invalid_argument');
  } finally {
    phone.stop();
  }
});

test('OfflineReader refuses bad options with stable codes', async () => {
  const transport = async () => Uint8Array.of(0x90, 0x00);
  assert.throws(() => new OfflineReader({ transport }), { code: 'invalid_argument' });
  assert.throws(() => new OfflineReader({ issuerTrust: pem('issuer-root.pem') }), { code: 'invalid_argument' });
  const bad = (options, request = REQUEST) => new OfflineReader({ transport, issuerTrust: pem('issuer-root.pem'), ...options }).read(request);
  await rejectsWith(bad({ engagement: 'mdoc:!!' }), 'invalid_engagement_uri');
  await rejectsWith(bad({ readerKey: pem('reader.key') }), 'invalid_argument');
  await rejectsWith(bad({ readerKey: 'not a key', readerCert: pem('reader.pem') }), 'invalid_key');
  await rejectsWith(bad({}, { docType: DOC, items: {} }), 'invalid_argument');
  await rejectsWith(bad({}, { docType: DOC, items: { [NS]: 'family_name' } }), 'invalid_argument');
  await rejectsWith(new OfflineReader({ transport, issuerTrust: 'no PEM here' }).read(REQUEST), 'invalid_certificate');
});

// ------------------------------------------------------------------------------------------
// (b) the JS holder against the kiosk, through pcscd

test('OfflineHolder refuses a bad state with stable codes', async () => {
  await assert.rejects(OfflineHolder.create({ state: '{' }), { code: 'invalid_state' });
  await assert.rejects(OfflineHolder.create({ state: { device_key: { software: 'zz' }, documents: [] } }), { code: 'invalid_state' });
  await assert.rejects(OfflineHolder.create({ state: { device_key: { chip: { state: '/x' } }, documents: [] } }), { code: 'invalid_state' });
  const parsed = JSON.parse(state);
  const broken = { ...parsed, documents: [{ doc_type: DOC, issuer_signed: 'a0ff' }] };
  await assert.rejects(OfflineHolder.create({ state: broken }), { code: 'invalid_state' });
  await assert.rejects(OfflineHolder.create({ state, requireReaderAuth: true }), { code: 'invalid_argument' });
  await assert.rejects(OfflineHolder.create({ state, readerTrust: 'nope' }), { code: 'invalid_certificate' });
  const holder = await OfflineHolder.create({ state: parsed });
  assert.equal(holder.documents, 1);
  assert.match(holder.engagementQr(), /^mdoc:[A-Za-z0-9_-]+$/);
  // A malformed command gets a status word, not an exception.
  const sw = holder.transmit(Uint8Array.of(0x00));
  assert.equal(sw.length, 2);
  holder.free();
  assert.throws(() => holder.transmit(Uint8Array.of(0, 0xa4, 4, 0)), { code: 'disposed' });
});

const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so';
const havePcscd = () => spawnSync('sh', ['-c', 'command -v pcscd']).status === 0 && existsSync(VPCD_DRIVER);

test('kazashi-kiosk read reads the JS OfflineHolder through pcscd and vpcd', async (t) => {
  if (!havePcscd()) {
    if (process.env.KAZASHI_SKIP_PCSC === '1') return t.skip('KAZASHI_SKIP_PCSC=1');
    assert.fail('pcscd or the vpcd driver is missing: run `cargo xtask sdk test`, which installs them');
  }
  const pcsc = await startPcscd(join(dir, 'pcscd'));
  t.after(() => pcsc.stop());

  // Node is the card: it connects to vpcd and answers with the current holder.
  let holder;
  const events = [];
  const socket = connect(pcsc.port, '127.0.0.1');
  socket.setNoDelay(true);
  t.after(() => socket.destroy());
  const hist = new TextEncoder().encode('kazashi-mdoc');
  const atr = [0x3b, 0x80 | hist.length, 0x80, 0x01, ...hist];
  atr.push(atr.slice(1).reduce((x, b) => x ^ b, 0));
  frames(socket, (payload) => {
    if (payload.length === 1) {
      if (payload[0] === 0x01 || payload[0] === 0x02) holder?.tap();
      if (payload[0] === 0x04) socket.write(frame(Uint8Array.from(atr)));
      return;
    }
    socket.write(frame(holder ? holder.transmit(payload) : Uint8Array.of(0x6f, 0x00)));
  });
  await new Promise((resolve, reject) => (socket.once('connect', resolve), socket.once('error', reject)));

  const read = async (args) => {
    // vpcd reports the card a moment after it connects: retry while pcscd has no card yet.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const out = await spawnAsync(KIOSK, [
        'read', '--reader', 'Virtual PCD 00 00', '--doctype', DOC, '--items', `${NS}:family_name,${NS}:age_over_18,${NS}:portrait`,
        '--issuer-trust', join(pki, 'issuer-root.pem'), '--timeout', '10', ...args,
      ], { PCSCLITE_CSOCK_NAME: pcsc.socket });
      if (out.status !== 4 || Date.now() > deadline) return out;
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const ok = (out) => {
    assert.equal(out.status, 0, `kazashi-kiosk read: ${out.stderr}\npcscd: ${pcsc.log()}`);
    return JSON.parse(out.stdout);
  };
  const portraitB64 = Buffer.from(PORTRAIT).toString('base64url');

  // 1. NFC static handover, device signature.
  holder = await OfflineHolder.create({ state, onEvent: (e) => events.push(e) });
  let json = ok(await read([]));
  assert.equal(json.doc_type, DOC);
  assert.equal(json.items[NS].family_name, 'Yamada');
  assert.equal(json.items[NS].age_over_18, true);
  assert.equal(json.items[NS].portrait.bytes, portraitB64);
  assert.equal(json.items[NS].given_name, undefined);
  assert.equal(json.device_auth, 'signature');
  assert.equal(json.engagement, 'nfc');
  assert.equal(json.reader_auth, false);
  assert.deepEqual(events.map((e) => e.type), ['reader_not_authenticated', 'released', 'session_ended']);
  assert.equal(events[1].items, 3);

  // 2. Consent: only the family name; device MAC, short APDUs.
  const asked = [];
  holder = await OfflineHolder.create({
    state,
    auth: 'mac',
    onRequest: (request) => (asked.push(request), { [NS]: ['family_name', 'not_asked'] }),
  });
  json = ok(await read(['--short']));
  assert.deepEqual(Object.keys(json.items[NS]), ['family_name']);
  assert.equal(json.device_auth, 'mac');
  assert.deepEqual(asked, [{ docType: DOC, reader: null, items: { [NS]: ['family_name', 'age_over_18', 'portrait'] } }]);

  // 3. Declined (and a consent callback that throws declines too): no document, exit 9.
  holder = await OfflineHolder.create({ state, onRequest: () => false });
  let out = await read([]);
  assert.equal(out.status, 9, out.stderr);
  assert.match(out.stderr, /no_document/);
  holder = await OfflineHolder.create({ state, onRequest: () => { throw new Error('no'); } });
  assert.equal((await read([])).status, 9);

  // 4. Reader authentication required: with the reader's key, ok; without, refused.
  events.length = 0;
  holder = await OfflineHolder.create({ state, readerTrust: pem('reader-root.pem'), requireReaderAuth: true, onEvent: (e) => events.push(e) });
  json = ok(await read(['--reader-key', join(pki, 'reader.key'), '--reader-cert', join(pki, 'reader.pem')]));
  assert.equal(json.reader_auth, true);
  assert.deepEqual(events[0], { type: 'reader_authenticated', subject: 'CN=kazashi test reader,C=JP' });
  events.length = 0;
  out = await read([]);
  assert.equal(out.status, 9, out.stderr);
  assert.deepEqual(events[0], { type: 'refused', docType: DOC, reason: 'reader_auth_required' });

  // 5. QR engagement.
  holder = await OfflineHolder.create({ state, engagement: 'qr' });
  json = ok(await read(['--engagement', holder.engagementQr()]));
  assert.equal(json.engagement, 'qr');
  assert.equal(json.items[NS].family_name, 'Yamada');

  // 6. An untrusted issuer: the kiosk refuses the holder's document.
  holder = await OfflineHolder.create({ state });
  out = await spawnAsync(KIOSK, [
    'read', '--reader', 'Virtual PCD 00 00', '--doctype', DOC, '--items', `${NS}:family_name`,
    '--issuer-trust', join(pki, 'reader-root.pem'), '--timeout', '10',
  ], { PCSCLITE_CSOCK_NAME: pcsc.socket });
  assert.equal(out.status, 8, out.stderr);
  assert.match(out.stderr, /not_trusted/);

  // 7. A document written at a counter is bound to a key of its own (the state's key is another
  // one): the holder signs with the document's key, else the kiosk would refuse the signature.
  const parsed = JSON.parse(state);
  const perDocument = {
    device_key: { software: '00'.repeat(31) + '01' },
    documents: parsed.documents.map((d) => ({ ...d, device_key: parsed.device_key })),
  };
  holder = await OfflineHolder.create({ state: perDocument });
  json = ok(await read([]));
  assert.equal(json.device_auth, 'signature');
  assert.equal(json.items[NS].family_name, 'Yamada');
  const wrongKey = { ...perDocument, documents: parsed.documents.map((d) => ({ ...d, device_key: perDocument.device_key })) };
  holder = await OfflineHolder.create({ state: wrongKey });
  out = await read([]);
  assert.notEqual(out.status, 0, 'a document signed with a key its MSO does not name is refused');
  // A document whose key is on a chip cannot be used here.
  const chipBound = { ...parsed, documents: parsed.documents.map((d) => ({ ...d, device_key: { chip: { state: '/x', slot: 'dk-1' } } })) };
  await assert.rejects(OfflineHolder.create({ state: chipBound }), { code: 'invalid_state' });
});

// Runs a program to its end without blocking the event loop (the card answers from it).
function spawnAsync(program, args, env) {
  return new Promise((resolve) => {
    const child = spawn(program, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Two consecutive free ports: vpcd listens on PORT (slot 0) and PORT + 1.
async function freePortPair() {
  for (let i = 0; i < 50; i++) {
    const port = await freePort();
    if (port < 65535 && (await portFree(port + 1))) return port;
  }
  throw new Error('no two consecutive free TCP ports');
}

// A private pcscd, as tests/e2e/online.test.mjs starts one: its own client socket by systemd
// socket activation (a system pcscd is untouched) and its own vpcd port. Python binds the
// socket, puts it at fd 3 (inheritable) and execs pcscd with LISTEN_PID naming itself.
async function startPcscd(home) {
  mkdirSync(join(home, 'reader.conf.d'), { recursive: true });
  const port = await freePortPair();
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  writeFileSync(join(home, 'reader.conf.d', 'vpcd'),
    `FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:0x${hex}\nLIBPATH      ${VPCD_DRIVER}\nCHANNELID    0x${hex}\n`);
  const socket = join(home, 'pcscd.comm');
  const logFile = join(home, 'pcscd.log');
  const activate = [
    'import os, socket, sys',
    's = socket.socket(socket.AF_UNIX)',
    's.bind(sys.argv[1])',
    's.listen(16)',
    'os.dup2(s.fileno(), 3)',
    'os.set_inheritable(3, True)',
    'os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1")',
    'os.execvp("pcscd", ["pcscd", "-f", "-c", sys.argv[2]])',
  ].join('\n');
  const log = openSync(logFile, 'a');
  const child = spawn('python3', ['-c', activate, socket, join(home, 'reader.conf.d')], { stdio: ['ignore', log, log] });
  children.push(child);
  // pcscd has loaded vpcd when vpcd's port is taken.
  const deadline = Date.now() + 10_000;
  while (await portFree(port)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`pcscd did not open vpcd's port ${port}: ${readFileSync(logFile, 'utf8')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    socket,
    log: () => readFileSync(logFile, 'utf8'),
    stop: () => child.kill('SIGTERM'),
  };
}
