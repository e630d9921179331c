/**
 * The cluster page in a real browser (Chromium through playwright-core) against `ferry server`
 * with simulated nodes (no Docker): it shows a node and a pod, follows a pod created and one
 * deleted without a reload, shows workloads' ready counts, escapes hostile text (an Event message
 * and a pod name that are markup), and never puts the token in a URL or sends it anywhere but its
 * own origin. Served with a CSP that allows no inline script.
 */

import type { Browser, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { issueToken } from '../../../functions/tokens';
import { CHROMIUM, describeBrowser } from '../../helpers/chromium';
import { type SimulatedNodes, startSimulatedNodes, startTestPlane, type TestPlane } from '../cli/harness';

const HOSTILE = '<img src=x onerror="window.__pwned=1">';
const SCRIPTED = '<script>window.__pwned=2</script>';

describeBrowser('the cluster page', () => {
  let plane: TestPlane;
  let nodes: SimulatedNodes;
  let browser: Browser;
  let page: Page;
  let reader: string;
  const requests: Request[] = [];

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${plane.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${plane.adminToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    expect(res.status, `${method} ${path}: ${await res.clone().text()}`).toBeLessThan(300);
    return res.json();
  };
  const podBody = (name: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: 'solo' } },
    spec: { containers: [{ name: 'app', image: 'ferry.local/busybox:1' }] },
  });
  const podRow = (name: string) => page.locator('#pods tbody tr', { hasText: name });

  beforeAll(async () => {
    plane = await startTestPlane({ controllers: true });
    nodes = await startSimulatedNodes(plane, ['node-a']);
    reader = (await issueToken(plane.plane.deps, { name: 'page', role: 'reader', ttlSeconds: 3600 })).token;
    await api('POST', '/api/v1/namespaces/default/pods', podBody('first'));
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage();
    page.on('request', (r) => requests.push(r));
    page.on('dialog', (d) => void d.dismiss());
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    nodes?.stop();
    await plane?.close();
  });

  it('is served with a strict Content-Security-Policy and asks for a token', async () => {
    // act
    const res = await page.goto(`${plane.url}/ui/`);

    // assess
    const csp = res?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    await expect.poll(() => page.isVisible('#login')).toBe(true);
    expect(await page.isVisible('#cluster')).toBe(false);
  });

  it('shows the node and the pod once a reader token is pasted', async () => {
    // act
    await page.fill('#token', reader);
    await page.click('#login button[type=submit]');

    // assess
    const node = page.locator('#nodes tbody tr', { hasText: 'node-a' });
    await node.waitFor({ timeout: 10_000 });
    expect(await node.locator('td').nth(1).textContent()).toBe('True');
    await podRow('first').waitFor({ timeout: 10_000 });
    await expect
      .poll(async () => podRow('first').locator('td').nth(2).textContent(), { timeout: 10_000 })
      .toBe('Running');
    expect(await podRow('first').locator('td').nth(5).textContent()).toBe('node-a');
    expect(await page.textContent('#status')).toBe('live');
  });

  it('adds a pod created and removes a pod deleted, without a reload', async () => {
    // act
    await api('POST', '/api/v1/namespaces/default/pods', podBody('second'));
    await podRow('second').waitFor({ timeout: 10_000 });
    await api('DELETE', '/api/v1/namespaces/default/pods/first');

    // assess: the simulated agent stops it, the API removes it, the watch tells the page
    await podRow('first').waitFor({ state: 'detached', timeout: 15_000 });
    expect(await podRow('second').count()).toBe(1);
  });

  it("shows a Deployment's ready and desired replicas", async () => {
    // act
    await api('POST', '/apis/apps/v1/namespaces/default/deployments', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'app', image: 'ferry.local/busybox:1' }] },
        },
      },
    });

    // assess
    const row = page.locator('#workloads tbody tr', { hasText: 'web' });
    await expect.poll(async () => row.locator('td').nth(3).textContent(), { timeout: 20_000 }).toBe('2 / 2');
    expect(await row.locator('td').first().textContent()).toBe('Deployment');
  });

  it('shows hostile text as text: markup in an Event message and in a pod name never runs', async () => {
    // act: an Event through the API, and a pod whose name no validation would let in, written to the store
    await api('POST', '/api/v1/namespaces/default/events', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'hostile.1', namespace: 'default' },
      involvedObject: { kind: 'Pod', namespace: 'default', name: 'second' },
      reason: 'Hostile',
      message: HOSTILE,
      type: 'Warning',
      lastTimestamp: new Date().toISOString(),
    });
    await plane.plane.store.create({ ...podBody(SCRIPTED), metadata: { name: SCRIPTED, namespace: 'default' } });

    // assess
    const event = page.locator('#events tbody tr', { hasText: 'Hostile' });
    await event.waitFor({ timeout: 10_000 });
    expect(await event.locator('td').nth(4).textContent()).toBe(HOSTILE);
    await podRow('__pwned').waitFor({ timeout: 10_000 });
    expect(await podRow('__pwned').locator('td').nth(1).textContent()).toBe(SCRIPTED);
    expect(await page.locator('#cluster img, #cluster script').count()).toBe(0);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
  });

  it('keeps the token out of every URL and sends it only to its own origin, only as a bearer header', async () => {
    // prepare
    const origin = new URL(plane.url).origin;
    const apiCalls = requests.filter((r) => !r.url().includes('/ui/'));

    // assess
    expect(requests.length).toBeGreaterThan(3);
    for (const r of requests) {
      expect(r.url()).not.toContain(reader);
      expect(decodeURIComponent(r.url())).not.toContain(reader);
      expect(new URL(r.url()).origin).toBe(origin);
    }
    expect(apiCalls.length).toBeGreaterThan(0);
    for (const r of apiCalls) expect(r.headers().authorization).toBe(`Bearer ${reader}`);
    expect(await page.evaluate('[localStorage.length, document.cookie]')).toEqual([0, '']);
    expect(await page.evaluate("sessionStorage.getItem('ferry.token')")).toBe(reader);
  });

  it('forgets the token on request and shows the form again', async () => {
    // act
    await page.click('#forget');

    // assess
    await expect.poll(() => page.isVisible('#login')).toBe(true);
    expect(await page.evaluate("sessionStorage.getItem('ferry.token')")).toBeNull();
    expect(await page.locator('#pods tbody tr').count()).toBe(0);
  });
});
