// Browser test of the standalone console against a live `aiops up`, driven by
// tests/e2e/test_console_browser.py. playwright-core drives Debian's Chromium: Playwright's own
// browser download does not work on an offline-first machine.
//
// Input (environment):
//   CONSOLE_URL    e.g. http://127.0.0.1:8081/console/
//   CONSOLE_TOKEN  the token to sign in with (an approver or admin)
//   INCIDENT_ID    an incident the list must show and the test opens and acknowledges
//   ACTION_ID      a pending medium-risk action the test approves
//   ARTIFACT_DIR   where the screenshots go
//   POLICY_SHIP, POLICY_DIFF_PATH  optional: a ship with an override, and a diff path to expect
//   CHROMIUM_PATH  optional, default /usr/bin/chromium
// Output: one JSON line on stdout {"screenshots": [...], "console_errors": [...]}; exit 1 on failure
// (after a failure.png screenshot).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const required = ['CONSOLE_URL', 'CONSOLE_TOKEN', 'INCIDENT_ID', 'ACTION_ID', 'ARTIFACT_DIR'];
for (const name of required) {
  if (!process.env[name]) {
    console.error(`console.e2e: ${name} is not set`);
    process.exit(2);
  }
}
const { CONSOLE_URL, CONSOLE_TOKEN, INCIDENT_ID, ACTION_ID, ARTIFACT_DIR } = process.env;
const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// Optional: a ship with a policy override, and one path its diff must show.
const POLICY_SHIP = process.env.POLICY_SHIP || '';
const POLICY_DIFF_PATH = process.env.POLICY_DIFF_PATH || '';
const TIMEOUT_MS = 30000;

// Without the background-networking flags Chromium keeps dialling Google's hosts, which this
// closed network refuses; the rest keep a root, GPU-less, headless run quiet and reproducible.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

mkdirSync(ARTIFACT_DIR, { recursive: true });
const profile = mkdtempSync(path.join(tmpdir(), 'aiops-console-e2e-'));
const screenshots = [];
const consoleErrors = [];
const pageErrors = [];

// Requests in flight, so a screenshot waits for the icons and refreshes that arrive after the
// element a step waited for (the page's own 'networkidle' state fires once, at load).
let inflight = 0;

async function networkQuiet(page, quietMs = 300, maxMs = 10000) {
  let quietFor = 0;
  for (let waited = 0; quietFor < quietMs && waited < maxMs; waited += 50) {
    await page.waitForTimeout(50);
    quietFor = inflight === 0 ? quietFor + 50 : 0;
  }
}

async function shot(page, name) {
  await networkQuiet(page);
  const file = path.join(ARTIFACT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  screenshots.push(file);
}

function step(name) {
  console.error(`console.e2e: ${name}`);
}

async function run(page) {
  page.setDefaultTimeout(TIMEOUT_MS);

  step('sign in');
  await page.goto(CONSOLE_URL, { waitUntil: 'networkidle' });
  await page.getByLabel('Token').waitFor();
  await shot(page, '00-sign-in');
  await page.getByLabel('Token').fill(CONSOLE_TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();

  step('incidents list shows the incident');
  const nav = page.getByRole('navigation', { name: 'Console pages' });
  await nav.waitFor();
  const incidentLink = page.locator(`table[aria-label="Incidents"] a[href$="/incidents/${INCIDENT_ID}"]`);
  await incidentLink.waitFor();
  await nav.getByLabel(/\d+ pending/).waitFor();
  await shot(page, '01-incidents');

  step('open the incident and acknowledge it');
  const title = (await incidentLink.textContent()).trim();
  await incidentLink.click();
  await page.getByRole('heading', { level: 2, name: title }).waitFor();
  await page.getByRole('region', { name: 'Timeline' }).waitFor();
  await page.getByRole('region', { name: 'Remediation' }).getByText('Pending approval').first().waitFor();
  await page.getByLabel('Status comment').fill('Bridge informed; watching the link.');
  await page.getByRole('button', { name: 'Acknowledge' }).click();
  await page.getByText('Incident is now acknowledged.').waitFor();
  await page.getByRole('button', { name: 'Reopen' }).waitFor();
  await shot(page, '02-incident-detail');

  step('approve the pending action');
  await nav.getByRole('link', { name: /Approvals/ }).click();
  const card = page.locator(`section[data-action-id="${ACTION_ID}"]`);
  await card.waitFor();
  await card.getByRole('textbox').fill('Approved from the browser test: restart during low booking traffic.');
  await shot(page, '03-approvals');
  await card.getByRole('button', { name: 'Approve' }).click();
  await page.getByText(/^Approved .* now approved/).waitFor();
  await card.waitFor({ state: 'detached' });
  await shot(page, '04-approvals-after');

  step('actions history shows the approved action');
  await nav.getByRole('link', { name: 'Actions history' }).click();
  const actionsTable = page.locator('table[aria-label="Actions"]');
  await actionsTable.getByText('Approved', { exact: true }).first().waitFor();
  await shot(page, '05-actions');
  await page.getByRole('tab', { name: 'Audit log' }).click();
  await page.locator('table[aria-label="Audit log"] tbody tr').first().waitFor();
  await shot(page, '06-audit');

  step('policy viewer shows the effective policy');
  await nav.getByRole('link', { name: 'Policy viewer' }).click();
  await page.getByRole('heading', { name: /Effective policy for/ }).waitFor();
  await page.getByRole('region', { name: 'Differences from the defaults' }).waitFor();
  await shot(page, '07-policies');
  if (POLICY_SHIP) {
    await page.getByLabel('Policy ship').fill(POLICY_SHIP);
    await page.getByRole('button', { name: 'Show policy' }).click();
    await page.getByRole('heading', { name: `Effective policy for ${POLICY_SHIP}` }).waitFor();
    const diff = page.getByRole('region', { name: 'Differences from the defaults' });
    await diff.getByRole('cell', { name: POLICY_DIFF_PATH, exact: true }).waitFor();
    await shot(page, '08-policies-ship-override');
  }
}

const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM_PATH,
  headless: true,
  args: CHROMIUM_ARGS,
  viewport: { width: 1440, height: 900 },
});
const page = context.pages()[0] ?? (await context.newPage());
page.on('console', (message) => {
  if (message.type() === 'error') {
    consoleErrors.push(message.text());
  }
});
page.on('pageerror', (error) => pageErrors.push(String(error)));
page.on('request', () => inflight++);
page.on('requestfinished', () => inflight--);
page.on('requestfailed', () => inflight--);

let failed = false;
try {
  await run(page);
  if (pageErrors.length > 0) {
    throw new Error(`uncaught errors in the page: ${pageErrors.join(' | ')}`);
  }
} catch (error) {
  failed = true;
  console.error(`console.e2e: FAILED: ${error instanceof Error ? error.stack : error}`);
  await page.screenshot({ path: path.join(ARTIFACT_DIR, 'failure.png'), fullPage: true }).catch(() => {});
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify({ screenshots, console_errors: consoleErrors, page_errors: pageErrors }));
process.exit(failed ? 1 : 0);
