// The inspector in a real browser: node tests/ui/inspector.mjs <url with its one-time token> <folder for screenshots>.
// Drives the system's Chromium (CHROMIUM, else /usr/bin/chromium) against an 'engram ui' serving a seeded store, and
// exits 1 naming every check that failed. The store holds (tests/Engram.Mcp.Tests/InspectorTests.cs seeds it):
// "Deploys to staging are frozen on Fridays after 3pm.", a newer fact superseding an older one, and a memory whose
// text is an injected script.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [url, shots] = process.argv.slice(2);
if (!url || !shots) {
  console.error('usage: node tests/ui/inspector.mjs <url> <screenshot folder>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const origin = new URL(url).origin;
const failures = [];
const errors = [];
const check = (ok, what) => { if (!ok) failures.push(what); console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); };

let page;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  const offsite = [];
  page.on('request', r => { if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) offsite.push(r.url()); });
  page.on('pageerror', e => errors.push(e.message));
  page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('dialog', d => { errors.push(`a dialog opened: ${d.message()}`); d.dismiss(); });

  await page.goto(url);
  check(new URL(page.url()).search === '', 'the one-time token leaves the address bar');
  await page.getByRole('button', { name: /project:acme\/api/ }).click();
  await page.getByRole('list', { name: 'Memories' }).waitFor();
  check(await page.getByText('Deploys to staging are frozen on Fridays after 3pm.').isVisible(), 'the scope lists its memories, newest first');

  // An injected script is shown as its characters and runs nothing.
  check(await page.getByText('<script>window.__pwned=1</script>', { exact: false }).first().isVisible(), 'a memory holding <script> shows its characters');
  check(await page.evaluate(() => window.__pwned === undefined), 'the injected script never ran');
  await page.screenshot({ path: join(shots, 'memories.png') });

  // Search: the same recall as the tools (reached with the keyboard: '/' focuses it); then the recall as a picture.
  await page.keyboard.press('/');
  check(await page.evaluate(() => document.activeElement?.getAttribute('aria-label') === 'Search'), "'/' focuses the search box");
  await page.keyboard.type('when are staging deploys frozen?');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('list', { name: 'Results' }).waitFor();
  const first = await page.getByRole('list', { name: 'Results' }).locator('li').first().innerText();
  check(first.includes('frozen on Fridays'), 'search ranks the staging freeze first');
  await page.getByRole('link', { name: 'explain this recall as a picture' }).click();
  await page.locator('.hit').first().waitFor();
  check(await page.locator('.hit').first().locator('.bar').count() === 4, 'each hit has one bar per signal');
  check(await page.locator('.hit').first().locator('.fill.lexical').count() === 1, 'the first hit was found by its words (lexical bar)');
  check(await page.locator('.hit mark').count() > 0, 'the query words are marked in the hits');
  check((await page.locator('.hit mark').first().getAttribute('title') || '').startsWith('matches the query word'), 'hovering a marked word names the query word it matches');
  await page.screenshot({ path: join(shots, 'explain.png'), fullPage: true });

  // A time range: only the fact observed a month ago is older than ten days.
  await page.getByRole('link', { name: 'Memories', exact: true }).click();
  await page.getByLabel('Observed until').fill(new Date(Date.now() - 10 * 86400000).toISOString().slice(0, 10));
  await page.getByRole('button', { name: 'Show' }).click();
  await page.getByRole('button', { name: 'All times' }).waitFor();
  const inRange = await page.getByRole('list', { name: 'Memories' }).locator('li').allInnerTexts();
  check(inRange.length === 1 && inRange[0].includes('port 8080'), `the time range keeps what was observed then (${inRange.length} shown)`);
  check(await page.locator('#scopes button', { hasText: 'project:acme/api' }).getAttribute('title').then(t => /vectors ready/.test(t || '')), 'a scope says whether its vectors are in use');

  // The recall log lists it; a past retrieval opens the same view.
  await page.getByRole('link', { name: 'Recall log' }).click();
  await page.getByRole('link', { name: 'when are staging deploys frozen?' }).first().click();
  await page.locator('.hit').first().waitFor();
  check(true, 'the recall log opens a past recall explained');

  // Why not found: the superseded fact is filtered, and the page says so.
  await page.getByRole('link', { name: 'Why not found?' }).click();
  await page.getByRole('searchbox', { name: 'Query' }).fill('which port does the api listen on');
  await page.getByRole('textbox', { name: 'Memory' }).fill('The API listens on port 8080');
  await page.getByRole('button', { name: 'Explain' }).click();
  const account = page.locator('[data-account]');
  await account.waitFor();
  const accountText = await account.innerText();
  check(/superseded/i.test(accountText), `the account says the older fact was superseded (${accountText.split('\n')[0]})`);
  await page.screenshot({ path: join(shots, 'why.png'), fullPage: true });

  // A memory's page: its supersession timeline; then forget with a dry run first and the receipt.
  await page.goto(`${origin}/#/`);
  await page.getByRole('button', { name: /project:acme\/api/ }).click();
  await page.getByRole('link', { name: 'The API now listens on port 9090.' }).click();
  await page.getByRole('heading', { name: 'Supersession' }).waitFor();
  check(await page.locator('.timeline li').count() === 2, 'the timeline shows what it replaced');
  // Tags are edited in place (the same memory, refiled).
  await page.getByRole('textbox', { name: 'Tags' }).fill('network, Config');
  await page.getByRole('button', { name: 'Save tags' }).click();
  await page.locator('.meta .tag', { hasText: 'config' }).first().waitFor();
  check(await page.locator('section .meta .tag').allInnerTexts().then(t => t.join(',') === 'config,network'), 'tags are saved, lower-cased and sorted');
  await page.getByRole('button', { name: 'Forget… (dry run first)' }).click();
  const dry = await page.getByRole('alert').innerText();
  check(dry.startsWith('Dry run: this would forget 1 memory'), 'forget shows a dry run first');
  await page.getByRole('button', { name: 'Forget it' }).click();
  const receipt = page.locator('[data-receipt="forget"]');
  await receipt.waitFor();
  const receiptText = await receipt.innerText();
  check(receiptText.includes('Forgot 1.') && /memories 0/.test(receiptText) && /lexicalIndex 0/.test(receiptText), `the receipt counts no residue (${receiptText.replace(/\n/g, ' ')})`);

  // The system's dark theme is followed.
  await page.emulateMedia({ colorScheme: 'dark' });
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(background === 'rgb(21, 24, 28)', `the dark theme follows the system (${background})`);
  await page.emulateMedia({ colorScheme: 'light' });

  // A narrow window still reads.
  await page.setViewportSize({ width: 420, height: 800 });
  await page.goto(`${origin}/#/`);
  await page.getByRole('list', { name: 'Memories' }).waitFor();
  await page.screenshot({ path: join(shots, 'narrow.png') });

  // Without the cookie, nothing: another browser context has none.
  const stranger = await (await browser.newContext()).newPage();
  const refused = await stranger.goto(`${origin}/api/overview`);
  check(refused.status() === 401, 'a browser without the cookie is refused');

  check(offsite.length === 0, `no request left the machine${offsite.length ? `: ${offsite.join(', ')}` : ''}`);
  check(errors.length === 0, `no script error${errors.length ? `: ${errors.join(' | ')}` : ''}`);
} catch (e) {
  failures.push(`the walk-through stopped: ${e.message}${errors.length ? ` (page errors: ${errors.join(' | ')})` : ''}`);
  console.log(`FAIL ${e.message}`);
  // What the page showed when it stopped: its text, and a screenshot beside the others.
  if (page) {
    console.log(`the page said: ${(await page.locator('main').innerText().catch(() => '')).slice(0, 500)}`);
    await page.screenshot({ path: join(shots, 'failure.png'), fullPage: true }).catch(() => {});
  }
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(`${failures.length} inspector check(s) failed: ${failures.join('; ')}`);
  process.exit(1);
}
console.log('all inspector checks passed');
