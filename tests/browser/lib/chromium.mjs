// Headless Chromium for the browser tests: Debian's /usr/bin/chromium (scripts/install-deps.sh
// installs it) driven by playwright-core, with the flags every Tollgate browser test uses.
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A browser; close it when done (`await browser.close()`). */
export async function launchChromium() {
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
}

/**
 * A page on `url` whose console errors and page errors are collected in `page.problems`
 * (a test can assert there were none, or that the expected CORS refusal was logged).
 */
export async function openPage(browser, url) {
  const page = await browser.newPage();
  page.problems = [];
  page.on('console', (m) => m.type() === 'error' && page.problems.push(m.text()));
  page.on('pageerror', (e) => page.problems.push(String(e)));
  await page.goto(url);
  return page;
}
