/**
 * `/ui/` in front of the API: only the page's own files are served (no path reaches the disk),
 * every answer carries the strict CSP, other paths go to the API untouched.
 */
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ApiRequest } from '../../../functions/api/types';
import { loadUiFiles, UI_FILES } from '../../../functions/ui/files';
import { withUi } from '../../../functions/ui/serve';

const files = loadUiFiles();
const passed: string[] = [];
const handler = withUi(
  async (req) => {
    passed.push(req.path);
    return { status: 200, headers: {}, body: 'api' };
  },
  files ?? { get: () => undefined },
);
const call = (path: string, method = 'GET') =>
  handler({ method, path, query: new URLSearchParams(), headers: {} } as ApiRequest);

describe('the cluster page route', () => {
  it('finds the page files in the source tree', () => {
    for (const name of UI_FILES) expect(files?.get(name)).toBeTruthy();
  });

  it('serves the page and its script with their types and a CSP that allows no inline script', async () => {
    // act
    const index = await call('/ui/');
    const script = await call('/ui/app.js');

    // assess
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.body).toContain('<script type="module" src="app.js"></script>');
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    for (const res of [index, script]) {
      expect(res.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'self';/);
      expect(res.headers['content-security-policy']).not.toContain('unsafe');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('answers 404 for anything but its own files, 405 for writes, and redirects /ui to /ui/', async () => {
    // act
    const probes = await Promise.all(
      ['/ui/../package.json', '/ui/static/app.js', '/ui/%2e%2e/README.md', '/ui/index.html/x', '/ui/.env'].map((p) =>
        call(p),
      ),
    );
    const post = await call('/ui/', 'POST');
    const bare = await call('/ui');

    // assess
    expect(probes.map((r) => r.status)).toEqual([404, 404, 404, 404, 404]);
    expect(post.status).toBe(405);
    expect([bare.status, bare.headers.location]).toEqual([301, '/ui/']);
  });

  it('hands every other path to the API untouched', async () => {
    // act
    const res = await call('/uix/app.js');
    await call('/api/v1/pods');

    // assess
    expect(res.body).toBe('api');
    expect(passed).toEqual(['/uix/app.js', '/api/v1/pods']);
  });
});

describe('the cluster page files', () => {
  it('are found at start but read on the first request for each, then kept', () => {
    // prepare: a build's layout, dist/ui beside the bundle
    const root = mkdtempSync(join(tmpdir(), 'ferry-ui-'));
    const ui = join(root, 'ui');
    try {
      for (const name of UI_FILES) {
        mkdirp(ui);
        writeFileSync(join(ui, name), `at start: ${name}`);
      }

      // act
      const found = loadUiFiles(root);
      writeFileSync(join(ui, 'index.html'), 'written after the start');
      const first = found?.get('index.html');
      writeFileSync(join(ui, 'index.html'), 'written after the first request');
      const second = found?.get('index.html');
      unlinkSync(join(ui, 'style.css'));

      // assess: read when first asked (not at start), and only then
      expect(first).toBe('written after the start');
      expect(second).toBe('written after the start');
      expect(found?.get('style.css')).toBeUndefined();
      expect(found?.get('../ui/app.js')).toBeUndefined();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('are not found in a folder without all three, and nothing is served then', () => {
    const root = mkdtempSync(join(tmpdir(), 'ferry-ui-'));
    try {
      mkdirp(join(root, 'ui'));
      writeFileSync(join(root, 'ui', 'index.html'), 'alone');
      expect(loadUiFiles(root)).toBeUndefined();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

function mkdirp(dir: string): void {
  mkdirSync(dir, { recursive: true });
}
