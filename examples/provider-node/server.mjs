#!/usr/bin/env node
// The demo provider's backend: serves its mobile site (www/) and a small JSON API the site
// calls. It holds the provider's key (never sent to the page), seals and registers commands
// with the kazashi server, and verifies the results it fetches from it.
//
//   node server.mjs serve --kazashi URL --listen HOST:PORT --data DIR [--www DIR] [--id ID]
//   node server.mjs jwks --data DIR        prints the public JWKS to register with the server
//
// `--phone-state FILE --phone-chip ID` also serve the demo's simulated phone (GET/PUT
// /phone): the page runs the common app with a virtual chip, and this is where that phone
// keeps its chip between page loads. A real deployment has no /phone: the chip is in the
// citizen's phone.

import { createServer } from 'node:http';
import { readFile, writeFile, rename, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve, dirname, extname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KazashiError } from 'kazashi';
import { Provider, ProviderError, loadOrCreateKey, publicJwks } from './provider.mjs';
import { flows, describe } from './flows.mjs';

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const [command, ...rest] = argv;
  const options = {};
  for (let i = 0; i < rest.length; i++) {
    const name = rest[i];
    if (!name.startsWith('--') || i + 1 >= rest.length) throw new Error(`unexpected argument ${name}`);
    options[name.slice(2)] = rest[++i];
  }
  return { command, options };
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** A file under `root`, or undefined for anything outside it or missing. */
async function fileUnder(root, path) {
  const full = resolve(root, `.${sep}${decodeURIComponent(path)}`);
  if (full !== root && !full.startsWith(root + sep)) return undefined;
  try {
    const info = await stat(full);
    if (info.isDirectory()) return fileUnder(root, join(path, 'index.html'));
    return full;
  } catch {
    return undefined;
  }
}

function send(res, status, body, type = 'application/json') {
  const text = type === 'application/json' ? JSON.stringify(body) : body;
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

async function readBody(req, limit = 256 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new ProviderError('body_too_large', 'request body too large', 413);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req) {
  try {
    return JSON.parse((await readBody(req)) || '{}');
  } catch (error) {
    if (error instanceof ProviderError) throw error;
    throw new ProviderError('invalid_json', 'the body is not JSON', 400);
  }
}

async function serve(options) {
  const data = resolve(options.data ?? '.');
  const www = resolve(options.www ?? join(here, '..', '..', 'www'));
  const vendor = dirname(createRequire(import.meta.url).resolve('kazashi/package.json'));
  const [host, port] = (options.listen ?? '127.0.0.1:8080').split(/:(?=\d+$)/);
  const kazashi = (options.kazashi ?? 'http://127.0.0.1:8700').replace(/\/$/, '');
  const provider = new Provider({
    id: options.id ?? 'midori-city',
    privateJwk: await loadOrCreateKey(join(data, 'provider-key.json')),
    discovery: `${kazashi}/.well-known/kazashi`,
  });
  const phone = options['phone-state'] ? { state: resolve(options['phone-state']), chip: options['phone-chip'] } : undefined;

  // Flows in progress: transaction id → what the next step needs. In memory: a lost entry only
  // means the page starts the flow again (every command is single-use anyway).
  const pending = new Map();
  // The last verified points balance per chip (the provider's own records).
  const balances = new Map();

  async function startStep(flowName, index, chip, previous, previousOps) {
    const ops = await flows[flowName][index](previous, previousOps);
    const registered = await provider.register(ops, { chip });
    pending.set(registered.transaction, { flowName, index, chip, ops, jti: registered.jti, at: Date.now() });
    for (const [id, entry] of pending) if (Date.now() - entry.at > 10 * 60_000) pending.delete(id);
    return { step: index + 1, steps: flows[flowName].length, ops, ...registered };
  }

  async function api(req, res, path) {
    if (req.method === 'GET' && path === '/api/config') {
      const { meta } = await provider.serverInfo();
      return send(res, 200, { provider: provider.id, issuer: meta.issuer, discovery: provider.discovery });
    }
    const start = path.match(/^\/api\/flows\/([a-z-]+)$/);
    if (req.method === 'POST' && start) {
      const flowName = start[1];
      if (!Object.hasOwn(flows, flowName)) throw new ProviderError('unknown_flow', `no flow ${flowName}`, 404);
      const { chip } = await readJson(req);
      if (chip !== undefined && typeof chip !== 'string') throw new ProviderError('invalid_request', 'chip must be a string', 400);
      return send(res, 201, await startStep(flowName, 0, chip));
    }
    const result = path.match(/^\/api\/transactions\/([A-Za-z0-9_-]+)\/result$/);
    if (req.method === 'GET' && result) {
      const entry = pending.get(result[1]);
      if (!entry) throw new ProviderError('unknown_transaction', 'no such transaction in progress', 404);
      // The backend's own copy, fetched from the server and verified here.
      let verified;
      for (let attempt = 0; ; attempt++) {
        try {
          verified = await provider.result(result[1], entry.jti);
          break;
        } catch (error) {
          if (!(error instanceof ProviderError) || error.status !== 404 || attempt >= 40) throw error;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      pending.delete(result[1]);
      const outcome = describe(entry.ops, verified);
      for (const o of outcome) if (o.value !== undefined && o.name === 'points') balances.set(entry.chip, o.value);
      const body = {
        status: verified.status,
        reason: verified.reason,
        chip: verified.chip,
        outcome,
        points: balances.get(entry.chip),
      };
      if (verified.status === 'ok' && entry.index + 1 < flows[entry.flowName].length) {
        body.next = await startStep(entry.flowName, entry.index + 1, entry.chip, verified, entry.ops);
      }
      return send(res, 200, body);
    }
    if (phone && path === '/phone' && req.method === 'GET') {
      return send(res, 200, { chip: phone.chip, state: await readFile(phone.state, 'utf8') });
    }
    if (phone && path === '/phone/state' && req.method === 'PUT') {
      const state = await readBody(req);
      JSON.parse(state); // refuse anything that is not JSON before replacing the phone's chip
      const partial = `${phone.state}.tmp-${process.pid}`;
      await writeFile(partial, state, { mode: 0o600 });
      await rename(partial, phone.state);
      return send(res, 204, '', 'text/plain');
    }
    throw new ProviderError('not_found', `${req.method} ${path}`, 404);
  }

  const server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    try {
      if (path.startsWith('/api/') || path === '/phone' || path.startsWith('/phone/')) return await api(req, res, path);
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method_not_allowed' });
      const file = path.startsWith('/vendor/kazashi/')
        ? await fileUnder(vendor, path.slice('/vendor/kazashi/'.length))
        : await fileUnder(www, path);
      if (!file) return send(res, 404, 'not found', 'text/plain');
      send(res, 200, await readFile(file), TYPES[extname(file)] ?? 'application/octet-stream');
    } catch (error) {
      if (error instanceof ProviderError) return send(res, error.status ?? 500, { error: error.code, message: error.message });
      if (error instanceof KazashiError) return send(res, 422, { error: error.code, message: error.message });
      if (error instanceof SyntaxError) return send(res, 400, { error: 'invalid_json', message: error.message });
      console.error(error);
      send(res, 502, { error: 'internal', message: 'the provider backend failed; see its log' });
    }
  });
  await new Promise((ok) => server.listen(Number(port), host, ok));
  console.log(`provider backend listening on http://${host}:${server.address().port}`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const { command, options } = parseArgs(process.argv.slice(2));
if (command === 'serve') {
  await serve(options);
} else if (command === 'jwks') {
  const key = await loadOrCreateKey(join(resolve(options.data ?? '.'), 'provider-key.json'));
  console.log(JSON.stringify(publicJwks(key)));
} else {
  console.error('usage: server.mjs serve --kazashi URL --listen HOST:PORT --data DIR | server.mjs jwks --data DIR');
  process.exit(2);
}
