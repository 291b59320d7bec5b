// Drives the approvers' page (/ui) in headless Chromium:
//   node approvers-page.cjs API_URL TOKEN APPROVE_ID [DENY_ID]
// Signs in with TOKEN, waits for the pending approvals to appear (their row must show every
// string of the JSON array in GATEKIT_UI_EXPECT), approves the first with a click, denies the
// second (when given) with a reason, and waits for them to move to "Recent decisions". Fails
// on any page error or CSP violation.
// The caller checks the store. Add steps here as the gateway grows (e.g. a waiting psql
// statement that completes once approved).
'use strict';

const path = require('path');
const { chromium } = require(path.join(
  process.env.GATEKIT_UI_DEPS || path.join(__dirname, '.deps'),
  'node_modules', 'playwright-core'));

const [url, token, approveId, denyId] = process.argv.slice(2);
const expect = JSON.parse(process.env.GATEKIT_UI_EXPECT || '[]');
if (!url || !token || !approveId) {
  console.error('usage: node approvers-page.cjs API_URL TOKEN APPROVE_ID [DENY_ID]');
  process.exit(2);
}

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  const problems = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));

    await page.goto(url + '/ui');
    check(await page.isVisible('#signin'), 'sign-in form shown without a token');
    await page.fill('#token', token);
    await page.click('#signin-button');
    check(await page.evaluate(() => sessionStorage.getItem('gatekit.token')) === token,
      'token kept in sessionStorage');

    const pending = (id) => page.locator(`#pending tbody tr[data-id="${id}"]`);
    const decided = (id) => page.locator(`#decided tbody tr[data-id="${id}"]`);
    await pending(approveId).waitFor({ timeout: 10000 });
    if (denyId) await pending(denyId).waitFor({ timeout: 10000 });
    const row = await pending(approveId).innerText();
    for (const want of expect) {
      check(row.includes(want), `pending row shows ${want}: ${row}`);
    }

    await pending(approveId).locator('button.approve').click();
    await decided(approveId).waitFor({ timeout: 10000 });
    await pending(approveId).waitFor({ state: 'detached', timeout: 10000 });
    check((await decided(approveId).innerText()).includes('approved'), 'decision shows approved');
    if (denyId) {
      await pending(denyId).locator('button.deny').click();
      await pending(denyId).locator('input.reason').fill('not during the sale');
      // Survives a refresh while the reason is typed.
      await page.waitForTimeout(2500);
      check(await pending(denyId).locator('input.reason').inputValue() === 'not during the sale',
        'reason kept across a refresh');
      await pending(denyId).locator('button.confirm').click();
      await decided(denyId).waitFor({ timeout: 10000 });
      const denied = await decided(denyId).innerText();
      check(denied.includes('denied') && denied.includes('not during the sale'), 'decision shows the denial: ' + denied);
      check(await page.isVisible('#pending-empty'), 'nothing left pending');
    }
  } finally {
    await browser.close();
    if (problems.length) throw new Error(problems.join('\n'));
  }
  console.log('approvers page: ok');
})().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
