// The provider's page. It asks its backend to start a flow, runs the common app (the npm
// package's Relay) with the phone's chip, verifies the result here in the browser with the
// npm package, and shows what each party saw. It holds no keys but the virtual chip's own.

import { verifyResult, fetchServerKeys, KazashiError } from 'kazashi';
import { t, setLanguage, initialLanguage, language } from './i18n.js';
import { openPhone } from './phone.js';

const $ = (id) => document.getElementById(id);
let config;
let serverKeys;
let phone;
let busy = false;

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(data.message ?? `HTTP ${response.status}`), { code: data.error });
  return data;
}

function addStep(text, ms, kind = 'ok') {
  const item = document.createElement('li');
  item.className = `step ${kind}`;
  const label = document.createElement('span');
  label.textContent = text;
  item.append(label);
  if (ms !== undefined) {
    const time = document.createElement('span');
    time.className = 'time';
    time.textContent = t('ms', { ms: Math.round(ms) });
    item.append(time);
  }
  $('timeline').append(item);
  return item;
}

function field(list, key, value) {
  const dt = document.createElement('dt');
  dt.textContent = t(key);
  const dd = document.createElement('dd');
  dd.textContent = value;
  list.append(dt, dd);
}

const localized = (value) => (value && typeof value === 'object' ? value[language()] ?? value.en : value);

/** Shows what the verified result says, in the citizen's words. */
function showOutcome(flow, outcome, points) {
  const details = $('details');
  details.replaceChildren();
  const list = document.createElement('dl');
  for (const o of outcome) {
    if (o.record?.type === 'resident-certificate') {
      const h = document.createElement('h3');
      h.textContent = t('certificate');
      details.append(h);
      field(list, 'name', localized(o.record.name));
      field(list, 'born', o.record.born);
      field(list, 'address', localized(o.record.address));
      field(list, 'serial', o.record.serial);
      field(list, 'keyOnChip', `${o.record.key.slice(0, 16)}…`);
    }
    if (o.record?.type === 'member-card' && flow === 'membership') {
      const h = document.createElement('h3');
      h.textContent = t('memberCard');
      details.append(h);
      field(list, 'name', localized(o.record.name));
      field(list, 'number', o.record.number);
      field(list, 'tier', o.record.tier);
    }
    if (o.op === 'get' && o.name === 'member-card' && o.status === 'failed') {
      const p = document.createElement('p');
      p.textContent = t('noCard');
      details.append(p);
    }
    if (o.op === 'sub' && o.status === 'failed') {
      const p = document.createElement('p');
      p.textContent = t('notEnough');
      details.append(p);
    }
  }
  if (points !== undefined && flow.startsWith('points')) field(list, 'points', String(points));
  if (list.childElementCount) details.append(list);
}

/** Flips one character of the token's payload, as an attacker between server and page would. */
function tamper(token) {
  const parts = token.split('.');
  const payload = parts[1];
  const i = Math.floor(payload.length / 2);
  parts[1] = payload.slice(0, i) + (payload[i] === 'A' ? 'B' : 'A') + payload.slice(i + 1);
  return parts.join('.');
}

async function runFlow(flow) {
  if (busy) return;
  busy = true;
  document.body.dataset.state = 'working';
  for (const b of document.querySelectorAll('[data-flow]')) b.disabled = true;
  $('timeline').replaceChildren();
  $('result').hidden = false;
  $('verdict').className = 'verdict working';
  $('verdict').textContent = t('working');
  $('details').replaceChildren();
  phone.reset();
  try {
    serverKeys ??= await fetchServerKeys(config.discovery);
    let t0 = performance.now();
    let step = await api('POST', `/api/flows/${flow}`, { chip: phone.chip });
    for (;;) {
      addStep(t('stepRegister', { ops: step.ops.length }), performance.now() - t0);
      t0 = performance.now();
      const run = await phone.run(step.launchUrl);
      addStep(t('stepRelay', { apdus: run.apdus, exchanges: run.exchanges }), performance.now() - t0);

      // The page's own check of what the phone brought back.
      t0 = performance.now();
      const token = $('tamper').checked ? tamper(run.token) : run.token;
      try {
        await verifyResult(token, {
          serverKeys,
          issuer: config.issuer,
          audience: config.provider,
          command: step.jti,
        });
      } catch (error) {
        if (!(error instanceof KazashiError)) throw error;
        addStep(`${t('stepRejected')}: ${error.code}`, performance.now() - t0, 'bad');
        $('verdict').className = 'verdict bad';
        $('verdict').textContent = t('rejected', { code: error.code });
        document.body.dataset.state = 'rejected';
        return;
      }
      addStep(t('stepVerifyBrowser'), performance.now() - t0);

      t0 = performance.now();
      const result = await api('GET', `/api/transactions/${step.transaction}/result`);
      addStep(t('stepVerifyBackend'), performance.now() - t0);
      showOutcome(flow, result.outcome, result.points);
      if (result.status !== 'ok') {
        $('verdict').className = 'verdict warn';
        $('verdict').textContent = t('verifiedFailed', { reason: result.reason ?? result.outcome.find((o) => o.error)?.error ?? '' });
        document.body.dataset.state = 'failed';
        return;
      }
      if (!result.next) break;
      step = result.next;
      t0 = performance.now();
    }
    $('verdict').className = 'verdict ok';
    $('verdict').textContent = t('verifiedOk');
    document.body.dataset.state = 'verified';
  } catch (error) {
    addStep(`${t('stepFailed')}: ${error.code ?? ''} ${error.message}`, undefined, 'bad');
    $('verdict').className = 'verdict bad';
    $('verdict').textContent = t('error', { message: error.message });
    document.body.dataset.state = 'error';
  } finally {
    busy = false;
    for (const b of document.querySelectorAll('[data-flow]')) b.disabled = false;
    $('result').focus?.();
  }
}

async function main() {
  setLanguage(initialLanguage());
  $('lang').addEventListener('click', () => setLanguage(language() === 'ja' ? 'en' : 'ja'));
  config = await api('GET', '/api/config');
  phone = await openPhone({
    log: $('apdus'),
    exchanges: $('exchanges'),
    apdus: $('apdu-count'),
  });
  $('chip-id').textContent = phone.chip;
  for (const button of document.querySelectorAll('[data-flow]')) {
    button.addEventListener('click', () => runFlow(button.dataset.flow));
  }
  document.body.dataset.state = 'ready';
}

main().catch((error) => {
  document.body.dataset.state = 'error';
  $('result').hidden = false;
  $('verdict').className = 'verdict bad';
  $('verdict').textContent = t('error', { message: error.message });
});
