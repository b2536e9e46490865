// What the browser pages run (one bundled by Vite, one plain `<script type="module">`): the
// package's browser entry end to end against a kazashi-server on another origin (CORS).
// `kazashi` is the main entry, `testing` is `kazashi/testing`.

/** Verifies a result token: the main entry alone, without kazashi/testing. */
export async function verifyOnly(kazashi, { token, options }) {
  const result = await kazashi.verifyResult(token, options);
  let refused = null;
  try {
    await kazashi.verifyResult(token, { ...options, audience: 'someone-else' });
  } catch (error) {
    refused = { isKazashiError: error instanceof kazashi.KazashiError, code: error.code };
  }
  return { status: result.status, refused };
}

/**
 * Keys, sign and verify, then a whole transaction: seal a command, register it, relay it with
 * a virtual secure element, verify the result.
 */
export async function runScenario(kazashi, testing, { base, provider, providerKey, chipState }) {
  const { privateJwk, publicJwk } = await kazashi.generateKeyPair();
  const serverKeys = await kazashi.fetchServerKeys(`${base}/.well-known/kazashi`);
  const se = await testing.VirtualSecureElement.create(chipState);
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: provider, aud: serverKeys.issuer, jti: crypto.randomUUID(), iat: now, exp: now + 120,
    sub: se.chipId,
    ops: [
      { op: 'put', record: 'name', data: 'S2F6YXNoaQ' },
      { op: 'get', record: 'name' },
      { op: 'add', counter: 'points', amount: 7 },
    ],
  };
  const jws = await kazashi.signCommand(claims, privateJwk);
  const { payload, protectedHeader } = await kazashi.compactVerify(jws, publicJwk);
  const signedJti = JSON.parse(new TextDecoder().decode(payload)).jti;

  const sealed = await kazashi.sealCommand(claims, {
    providerKey,
    serverKey: serverKeys.keys.find((k) => k.use === 'enc'),
  });
  const registered = await fetch(`${base}/v1/transactions`, {
    method: 'POST', headers: { 'content-type': 'application/jose' }, body: sealed,
  });
  const { launch_url: launchUrl } = await registered.json();

  const events = {};
  const relay = new kazashi.Relay({
    transport: (apdu) => se.transmit(apdu),
    onEvent: (e) => { events[e.type] = (events[e.type] ?? 0) + 1; },
  });
  const token = await relay.run(launchUrl);
  const result = await kazashi.verifyResult(token, {
    serverKeys, issuer: serverKeys.issuer, audience: provider, command: claims.jti,
  });
  const chipId = se.chipId;
  se[Symbol.dispose]();
  let disposed = null;
  try {
    se.transmit(new Uint8Array(4));
  } catch (error) {
    disposed = error.code;
  }
  return {
    signed: { typ: protectedHeader.typ, kid: protectedHeader.kid === publicJwk.kid, jti: signedJti === claims.jti },
    registered: registered.status,
    status: result.status,
    results: result.results,
    chip: result.chip === chipId,
    events,
    disposed,
  };
}
