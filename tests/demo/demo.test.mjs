// The demo site in Chromium, as a resident would use it: each flow completes with a result
// verified in the page, the tamper switch shows a refusal, on a phone-sized and a desktop
// viewport, in Japanese and English, with the keyboard. `cargo xtask test` starts the stack
// (kazashi-server on SQLite, the provider backend, the site) and sets KAZASHI_DEMO_URL;
// screenshots go to KAZASHI_ARTIFACTS.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const site = process.env.KAZASHI_DEMO_URL;
const artifacts = process.env.KAZASHI_ARTIFACTS ?? 'artifacts';
if (!site) throw new Error('KAZASHI_DEMO_URL is not set: run these through `cargo xtask test`');
mkdirSync(artifacts, { recursive: true });

const VIEWPORTS = {
  mobile: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1280, height: 900 } },
};

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
});
after(async () => browser?.close());

/** A fresh page on the site; fails the test on any page error or console error. */
async function open(kind, lang = 'en') {
  const context = await browser.newContext({ ...VIEWPORTS[kind], locale: lang === 'ja' ? 'ja-JP' : 'en-US' });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  await page.goto(`${site}?lang=${lang}`);
  await page.waitForSelector('body[data-state="ready"]', { timeout: 20_000 });
  return { page, context, problems };
}

/** Runs a flow by its button and waits for the page's verdict. */
async function runFlow(page, flow, { keyboard = false } = {}) {
  const button = page.locator(`[data-flow="${flow}"]`);
  if (keyboard) {
    await button.focus();
    await page.keyboard.press('Enter');
  } else {
    await button.click();
  }
  await page.waitForSelector('body[data-state="working"]', { timeout: 5_000 }).catch(() => {});
  await page.waitForFunction(() => document.body.dataset.state !== 'working', null, { timeout: 30_000 });
  return page.evaluate(() => ({
    state: document.body.dataset.state,
    verdict: document.getElementById('verdict').textContent,
    details: document.getElementById('details').textContent,
    steps: [...document.querySelectorAll('#timeline li')].map((li) => li.textContent),
    exchanges: Number(document.getElementById('exchanges').textContent),
    apdus: [...document.querySelectorAll('#apdus li')].map((li) => li.dataset.hex),
  }));
}

const hexOf = (text) => Buffer.from(text, 'utf8').toString('hex').toUpperCase();

/** The phone saw APDUs, and none of them carries the plaintext of what was written or read. */
function assertOnlyCiphertext(outcome, secrets) {
  assert.ok(outcome.apdus.length >= 3, `the phone log shows the APDUs: ${outcome.apdus.length}`);
  for (const apdu of outcome.apdus) {
    assert.match(apdu, /^[0-9A-F]+$/);
    for (const secret of secrets) assert.ok(!apdu.includes(hexOf(secret)), `an APDU carries ${secret} in clear`);
  }
}

for (const kind of Object.keys(VIEWPORTS)) {
  test(`${kind}: receive a resident ID (key generated on the chip, certificate written), verified in the page`, async () => {
    const { page, context, problems } = await open(kind);
    const outcome = await runFlow(page, 'resident-id');
    assert.equal(outcome.state, 'verified', outcome.verdict + outcome.steps.join('\n'));
    assert.match(outcome.details, /Hanako Yamada/);
    assert.match(outcome.details, /Key in the chip/);
    // Two commands: keygen, then the certificate naming that key; each verified twice.
    assert.equal(outcome.steps.filter((s) => /registered/.test(s)).length, 2, outcome.steps.join('\n'));
    assert.equal(outcome.steps.filter((s) => /This browser checked/.test(s)).length, 2);
    assertOnlyCiphertext(outcome, ['Hanako Yamada', 'resident-certificate']);
    await page.screenshot({ path: join(artifacts, `${kind}-resident-id.png`), fullPage: true });
    assert.deepEqual(problems, []);
    await context.close();
  });

  test(`${kind}: add points and spend some; the chip keeps the balance`, async () => {
    const { page, context, problems } = await open(kind);
    const added = await runFlow(page, 'points-add');
    assert.equal(added.state, 'verified', added.verdict);
    const balance = (text) => Number(text.match(/Points balance(\d+)/)?.[1]);
    const afterAdd = balance(added.details);
    assert.ok(afterAdd >= 100, added.details);
    // In step with the chip's counter: one round trip to the server.
    assert.equal(added.exchanges, 1, added.steps.join('\n'));
    await page.screenshot({ path: join(artifacts, `${kind}-points-add.png`), fullPage: true });
    const spent = await runFlow(page, 'points-spend');
    assert.equal(spent.state, 'verified', spent.verdict);
    assert.equal(balance(spent.details), afterAdd - 30);
    await page.screenshot({ path: join(artifacts, `${kind}-points-spend.png`), fullPage: true });
    assert.deepEqual(problems, []);
    await context.close();
  });

  test(`${kind}: show the membership (a read), with the keyboard`, async () => {
    const { page, context, problems } = await open(kind);
    const shown = await runFlow(page, 'membership', { keyboard: true });
    assert.equal(shown.state, 'verified', shown.verdict);
    assert.match(shown.details, /M-000417/);
    assertOnlyCiphertext(shown, ['M-000417', 'member-card"']);
    await page.screenshot({ path: join(artifacts, `${kind}-membership.png`), fullPage: true });
    assert.deepEqual(problems, []);
    await context.close();
  });

  test(`${kind}: the tamper switch: a changed result is refused and nothing from it is shown`, async () => {
    const { page, context, problems } = await open(kind);
    await page.check('#tamper');
    const refused = await runFlow(page, 'membership');
    assert.equal(refused.state, 'rejected', refused.verdict);
    assert.match(refused.verdict, /Refused.*invalid_signature/);
    assert.equal(refused.details, '');
    assert.ok(!refused.steps.some((s) => /backend checked/.test(s)), 'nothing goes on after a refusal');
    await page.screenshot({ path: join(artifacts, `${kind}-tampered.png`), fullPage: true });
    // Switched off again, the same flow verifies.
    await page.uncheck('#tamper');
    const again = await runFlow(page, 'membership');
    assert.equal(again.state, 'verified', again.verdict);
    assert.deepEqual(problems, []);
    await context.close();
  });
}

test('Japanese by default for a Japanese browser, English on the switch', async () => {
  const context = await browser.newContext({ ...VIEWPORTS.mobile, locale: 'ja-JP' });
  const page = await context.newPage();
  await page.goto(site);
  await page.waitForSelector('body[data-state="ready"]');
  assert.equal(await page.getAttribute('html', 'lang'), 'ja');
  assert.equal(await page.textContent('h1'), 'スマホのチップで手続き');
  const outcome = await runFlow(page, 'membership');
  assert.equal(outcome.state, 'verified');
  assert.match(outcome.verdict, /確認済み/);
  await page.screenshot({ path: join(artifacts, 'mobile-ja-membership.png'), fullPage: true });
  await page.click('#lang');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.equal(await page.textContent('h1'), 'Services with your phone’s chip');
  await context.close();
});

test('large touch targets: every flow button is at least 48 px high on a phone', async () => {
  const { page, context } = await open('mobile');
  const heights = await page.$$eval('[data-flow], #lang', (els) => els.map((e) => e.getBoundingClientRect().height));
  assert.ok(heights.length >= 5);
  for (const h of heights) assert.ok(h >= 48, `a target of ${h} px`);
  const fontSize = await page.evaluate(() => parseFloat(getComputedStyle(document.body).fontSize));
  assert.ok(fontSize >= 18, `body text ${fontSize} px`);
  await context.close();
});
