/**
 * The reference page at /docs in a real headless Chromium: Swagger UI renders the operations and their
 * parameters from /openapi.json, loading nothing from another origin and breaking no CSP rule.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';
import { launchChromium } from './chromium.js';

let server: TestServer;
let browser: Browser;
let page: Page;
const foreignRequests: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  server = await startTestServer();
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('request', (request) => {
    if (!request.url().startsWith(server.url) && !request.url().startsWith('data:'))
      foreignRequests.push(request.url());
  });
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(msg.text());
  });
  await page.goto(`${server.url}/docs`);
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** Expands one operation and returns the names of its parameters as rendered. */
async function parameterNames(method: string, path: string): Promise<string[]> {
  const block = page.locator(`.opblock-${method}`, { has: page.locator(`[data-path="${path}"]`) }).first();
  await block.locator('.opblock-summary').first().click();
  await block.locator('.parameters-container').first().waitFor();
  const names = await block.locator('.parameters .parameter__name').allInnerTexts();
  return names.map((n) => n.replace(/\s*\*?\s*(required)?\s*$/i, '').trim());
}

describe('/docs in Chromium', () => {
  it('renders every public operation of the API', async () => {
    await page.locator('.opblock').first().waitFor({ timeout: 30_000 });
    const rendered = await page
      .locator('.opblock-summary-path')
      .evaluateAll((els) => els.map((el) => el.getAttribute('data-path')));
    for (const path of [
      '/v1/jobs',
      '/v1/jobs/{id}',
      '/v1/jobs/{id}/events',
      '/v1/usage',
      '/v1/admin/accounts',
    ]) {
      expect(rendered, path).toContain(path);
    }
    expect(await page.locator('.opblock-post [data-path="/v1/jobs"]').count()).toBeGreaterThan(0);
  });

  it('shows the parameters of an operation when it is opened', async () => {
    expect(await parameterNames('get', '/v1/jobs/{id}')).toContain('id');
    expect(await parameterNames('get', '/v1/jobs')).toEqual(
      expect.arrayContaining(['status', 'limit', 'cursor']),
    );
  });

  it('loaded nothing from another origin and logged no error', () => {
    expect(foreignRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
