// The JavaScript relay with the virtual secure element of `kazashi/testing`, against a running
// kazashi-server: transactions end to end (sealed with the package, relayed by it, verified by
// it), and their failure paths.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Relay, KazashiError } from 'kazashi';
import { VirtualSecureElement } from 'kazashi/testing';
import * as kazashi from 'kazashi';
import { startServer, sampleOps, freePort } from './server.mjs';
import helpers from './helpers.cjs';

const { rejectsWith } = helpers;
let server;

before(async () => {
  server = await startServer(kazashi, { chips: 9 });
});
after(async () => {
  await server?.stop();
});

const chip = (i) => server.chips[i];

function card(i) {
  return new VirtualSecureElement(chip(i).state);
}

function tamperFragment(launchUrl, edit) {
  const [url, fragment] = launchUrl.split('#script=');
  const script = JSON.parse(Buffer.from(fragment, 'base64url').toString('utf8'));
  edit(script);
  return `${url}#script=${Buffer.from(JSON.stringify(script)).toString('base64url')}`;
}

test('a Relay over a VirtualSecureElement completes a transaction; verifyResult accepts it', async () => {
  const se = card(0);
  assert.equal(se.chipId, chip(0).id);
  const { id, launchUrl, claims } = await server.register(sampleOps(), { sub: chip(0).id });
  assert.match(launchUrl, /#script=/, 'the chip is named: the first script is in the fragment');
  const events = [];
  const relay = new Relay({ transport: (apdu) => se.transmit(apdu), onEvent: (e) => events.push(e) });
  const token = await relay.run(launchUrl);

  const result = await server.verify(token, claims);
  assert.equal(result.status, 'ok');
  assert.equal(result.jti, id);
  assert.equal(result.chip, chip(0).id);
  assert.equal(Buffer.from(result.results[1].data, 'base64url').toString(), '山田太郎 / 1970-01-01');
  assert.equal(result.results[2].value, 120);
  assert.equal(result.results[3].jwk.crv, 'P-256');

  // What the common app saw: the identity read in the clear, then protected APDUs; one POST.
  const apdus = events.filter((e) => e.type === 'apdu');
  assert.equal(apdus[0].hex, '00A4040000');
  assert.equal(apdus[2].hex, '80CA004500');
  assert.match(apdus[3].hex, new RegExp(`^45[0-9A-F]{2}${chip(0).id}9000$`));
  assert.ok(apdus.some((e) => e.direction === 'command' && e.hex.startsWith('84')), 'wrapped commands');
  const http = events.filter((e) => e.type === 'http');
  assert.deepEqual(http.map((e) => e.direction), ['request', 'response']);
  assert.equal(http[1].status, 200);
  assert.equal(JSON.parse(http[1].body).result, token);
  assert.deepEqual(
    events.filter((e) => e.type === 'phase').map((e) => e.phase),
    ['identity', 'script', 'report', 'done'],
  );

  // The chip kept what it did: a second transaction adds to the same counter.
  const second = await server.register([{ op: 'add', counter: 'points', amount: 5 }], { sub: chip(0).id });
  const again = await server.verify(await relay.run(second.launchUrl), second.claims);
  assert.equal(again.results[0].value, 125);
  // So does its exported state, in the state file's format.
  const state = JSON.parse(se.exportState());
  assert.equal(state.version, 1);
  assert.ok(state.profile.sequence_counter > 1);
  se[Symbol.dispose]();
  assert.throws(() => se.exportState(), (e) => e instanceof KazashiError && e.code === 'disposed');
});

test('a launch URL without a script: the relay says which chip first (two POSTs)', async () => {
  const se = card(1);
  const { launchUrl, claims } = await server.register([{ op: 'add', counter: 'c', amount: 1 }]);
  assert.doesNotMatch(launchUrl, /#/);
  const posts = [];
  const relay = new Relay({
    transport: (apdu) => se.transmit(apdu),
    onEvent: (e) => e.type === 'http' && e.direction === 'request' && posts.push(JSON.parse(e.body)),
  });
  const result = await server.verify(await relay.run(new URL(launchUrl)), claims);
  assert.equal(result.status, 'ok');
  assert.equal(result.chip, chip(1).id);
  assert.deepEqual(posts[0], { chip: chip(1).id });
  assert.equal(posts.length, 2);
  assert.equal(posts[1].chip, chip(1).id);
  se.free();
  assert.throws(() => se.transmit(new Uint8Array([0, 0xa4, 4, 0])), (e) => e instanceof KazashiError && e.code === 'disposed');
});

test('the transport throwing mid-run: card_error with the cause; the launch URL can be run again', async () => {
  const se = card(2);
  const { launchUrl, claims } = await server.register(sampleOps(), { sub: chip(2).id });
  const broken = new Error('reader unplugged');
  let sent = 0;
  const relay = new Relay({
    transport: (apdu) => {
      // Identity (2 APDUs), SELECT, INITIALIZE UPDATE, EXTERNAL AUTHENTICATE, then it fails.
      if (++sent > 5) throw broken;
      return se.transmit(apdu);
    },
  });
  await assert.rejects(relay.run(launchUrl), (error) => {
    assert.ok(error instanceof KazashiError);
    assert.equal(error.code, 'card_error');
    assert.equal(error.cause, broken);
    return true;
  });
  // A transport that resolves to something else than bytes is a card error too.
  await rejectsWith(new Relay({ transport: async () => '9000' }).run(launchUrl), KazashiError, 'card_error');
  await rejectsWith(new Relay({ transport: () => new Uint8Array(70_000) }).run(launchUrl), KazashiError, 'card_error');
  // The server still waits for this script's report; run again, the chip's counter has moved
  // on, the server sees it and sends a second script.
  const result = await server.verify(await new Relay({ transport: (a) => se.transmit(a) }).run(launchUrl), claims);
  assert.equal(result.status, 'ok');
});

test('a card removed mid-run: the answers so far are reported, the server signs a failed result', async () => {
  const se = card(3);
  const { launchUrl, claims } = await server.register(sampleOps(), { sub: chip(3).id });
  let sent = 0;
  const relay = new Relay({
    transport: (apdu) => {
      if (++sent > 6) throw Object.assign(new Error('tag lost'), { code: 'card_removed' });
      return se.transmit(apdu);
    },
  });
  const result = await server.verify(await relay.run(launchUrl), claims);
  assert.equal(result.status, 'failed');
  assert.ok(result.results.some((r) => r.status !== 'ok'));
  // A removal before the identity is read fails the run.
  const none = new Relay({ transport: () => { throw Object.assign(new Error('no card'), { code: 'card_removed' }); } });
  await rejectsWith(none.run(launchUrl), KazashiError, 'card_error');
});

test('the server unreachable: bounded retries, then fetch_failed with the cause', async () => {
  const se = card(4);
  const port = await freePort();
  const errors = [];
  const relay = new Relay({
    transport: (apdu) => se.transmit(apdu),
    networkRetries: 2,
    onEvent: (e) => e.type === 'http' && e.direction === 'error' && errors.push(e),
  });
  const started = Date.now();
  await assert.rejects(relay.run(`http://127.0.0.1:${port}/launch/nothing-here`), (error) => {
    assert.ok(error instanceof KazashiError);
    assert.equal(error.code, 'fetch_failed');
    assert.ok(error.cause instanceof Error);
    return true;
  });
  assert.equal(errors.length, 3, 'the first attempt and two resends');
  assert.ok(Date.now() - started >= 300, 'the resends waited 100 ms, then 200 ms');
  // A custom fetch that throws is the same.
  const failing = new Relay({ transport: (a) => se.transmit(a), networkRetries: 0, fetch: async () => { throw new TypeError('offline'); } });
  await rejectsWith(failing.run(`${server.base}/launch/x`), KazashiError, 'fetch_failed');
});

test('tampered answers: a forged script fails on the chip, a forged result fails verification', async () => {
  const se = card(5);
  // A wrapped command whose C-MAC was changed on the way: the chip refuses it, the server
  // signs a failed result for what could not be done.
  const first = await server.register([{ op: 'add', counter: 'c', amount: 3 }], { sub: chip(5).id });
  const forged = tamperFragment(first.launchUrl, (script) => {
    // The last APDU is the wrapped ADD: change the first byte of its (encrypted) data.
    const last = script.apdus[script.apdus.length - 1];
    assert.equal(last.capdu.slice(0, 2), '84');
    const flip = (parseInt(last.capdu.slice(10, 12), 16) ^ 1).toString(16).padStart(2, '0').toUpperCase();
    last.capdu = last.capdu.slice(0, 10) + flip + last.capdu.slice(12);
  });
  const relay = new Relay({ transport: (a) => se.transmit(a) });
  const failed = await server.verify(await relay.run(forged), first.claims);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.results[0].status, 'failed');

  // A result token changed on the way: the relay passes it on, verifyResult refuses it.
  const second = await server.register([{ op: 'add', counter: 'c', amount: 3 }], { sub: chip(5).id });
  const flipSignature = async (url, init) => {
    const response = await fetch(url, init);
    const body = await response.json();
    if (body.result) {
      const [h, p, s] = body.result.split('.');
      const sig = Buffer.from(s, 'base64url');
      sig[10] ^= 1;
      body.result = `${h}.${p}.${sig.toString('base64url')}`;
    }
    return new Response(JSON.stringify(body), { status: response.status });
  };
  const token = await new Relay({ transport: (a) => se.transmit(a), fetch: flipSignature }).run(second.launchUrl);
  await rejectsWith(server.verify(token, second.claims), KazashiError, 'invalid_signature');
  // The same token, unchanged, comes from the server on request.
  const genuine = await (await fetch(`${server.base}/v1/transactions/${second.id}/result`)).text();
  assert.equal((await server.verify(genuine, second.claims)).results[0].value, 3);

  // Answers that are neither a script nor a result.
  const third = await server.register([{ op: 'get', record: 'r' }], { sub: chip(5).id });
  for (const body of ['not json', '{"script":{"step":1,"apdus":[{"capdu":"00"}]}}', '{"other":1}']) {
    const odd = new Relay({ transport: (a) => se.transmit(a), fetch: async () => new Response(body, { status: 200 }) });
    const code = body.includes('capdu') ? 'invalid_script' : 'unexpected_answer';
    await rejectsWith(odd.run(third.launchUrl), KazashiError, code, body);
  }
});

test("refusals carry the server's code; chip_busy is waited for, then refused", async () => {
  const se = card(6);
  const first = await server.register([{ op: 'add', counter: 'c', amount: 1 }], { sub: chip(6).id });
  // While the first is pending, a second transaction for the chip gets no script and its
  // hello is answered 409 chip_busy.
  const second = await server.register([{ op: 'add', counter: 'c', amount: 2 }], { sub: chip(6).id });
  assert.doesNotMatch(second.launchUrl, /#/);
  const waits = [];
  const impatient = new Relay({
    transport: (a) => se.transmit(a),
    busyRetries: 1,
    onEvent: (e) => e.type === 'phase' && e.phase === 'waiting' && waits.push(e),
  });
  await rejectsWith(impatient.run(second.launchUrl), KazashiError, 'chip_busy');
  assert.deepEqual(waits.map((w) => w.busy), [true]);

  const relay = new Relay({ transport: (a) => se.transmit(a) });
  const done = await relay.run(first.launchUrl);
  assert.equal((await server.verify(done, first.claims)).results[0].value, 1);
  // Now the second runs (its hello is answered with a script).
  assert.equal((await server.verify(await relay.run(second.launchUrl), second.claims)).results[0].value, 3);
  // A launch URL is single-use.
  await rejectsWith(relay.run(first.launchUrl), KazashiError, 'launch_used');
  await rejectsWith(relay.run(`${server.base}/launch/unknown-token`), KazashiError, 'launch_unknown');
  // Another chip than the command names.
  const third = await server.register([{ op: 'get', record: 'r' }], { sub: chip(5).id });
  await rejectsWith(relay.run(third.launchUrl.split('#')[0]), KazashiError, 'wrong_chip');
});

test('bad arguments are refused with stable codes', async () => {
  await rejectsWith(Promise.resolve().then(() => new Relay()), KazashiError, 'invalid_argument');
  await rejectsWith(Promise.resolve().then(() => new Relay({ transport: 'x' })), KazashiError, 'invalid_argument');
  await rejectsWith(Promise.resolve().then(() => new Relay({ transport() {}, networkRetries: -1 })), KazashiError, 'invalid_argument');
  await rejectsWith(Promise.resolve().then(() => new Relay({ transport() {}, fetch: 1 })), KazashiError, 'invalid_argument');
  const relay = new Relay({ transport: () => new Uint8Array([0x90, 0]) });
  for (const url of ['launch/abc', 'ftp://x/launch/a', 'https://s.test/l#script=!!', 'https://s.test/l#nope=1']) {
    await rejectsWith(relay.run(url), KazashiError, 'invalid_launch_url', url);
  }
  await rejectsWith(relay.run(42), KazashiError, 'invalid_argument');
  // A chip that does not give its identity.
  const mute = new Relay({ transport: (apdu) => new Uint8Array(apdu[1] === 0xca ? [0x6a, 0x88] : [0x90, 0]) });
  await rejectsWith(mute.run('https://s.test/launch/x'), KazashiError, 'no_chip_identity');
  // An observer that throws changes nothing.
  const se = card(7);
  const { launchUrl, claims } = await server.register([{ op: 'get', record: 'nothing' }], { sub: chip(7).id });
  const token = await new Relay({ transport: (a) => se.transmit(a), onEvent: () => { throw new Error('ui bug'); } }).run(launchUrl);
  const result = await server.verify(token, claims);
  assert.equal(result.results[0].status, 'failed', 'no such record');
});

test('CommonJS: require("kazashi").Relay and require("kazashi/testing") are the same instances', () => {
  const require = createRequire(import.meta.url);
  assert.equal(require('kazashi').Relay, Relay);
  assert.equal(require('kazashi/testing').VirtualSecureElement, VirtualSecureElement);
});

test("the browser entry's Relay: its wasm from Relay.initialize, a transaction under Node", async () => {
  const packageDir = dirname(createRequire(import.meta.url).resolve('kazashi/package.json'));
  const browser = await import(pathToFileURL(join(packageDir, 'browser.js')).href);
  await assert.rejects(browser.Relay.initialize(new Uint8Array([0, 1, 2, 3])), (error) => {
    assert.equal(error.name, 'KazashiError');
    assert.equal(error.code, 'wasm_load_failed');
    return true;
  });
  await browser.Relay.initialize(readFileSync(join(packageDir, 'web', 'kazashi_sdk_relay_wasm_bg.wasm')));
  const se = card(8);
  const { launchUrl, claims } = await server.register([{ op: 'add', counter: 'c', amount: 9 }], { sub: chip(8).id });
  const token = await new browser.Relay({ transport: (a) => se.transmit(a) }).run(launchUrl);
  assert.equal((await server.verify(token, claims)).results[0].value, 9);
  await assert.rejects(new browser.Relay({ transport: (a) => se.transmit(a) }).run('nope'), (error) => {
    assert.ok(error instanceof browser.KazashiError, "the entry's own class");
    assert.equal(error.code, 'invalid_launch_url');
    return true;
  });
});
