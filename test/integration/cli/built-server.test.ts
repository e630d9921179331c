/**
 * `ferry server` as built (`dist/cli.js`, in a child process): its /metrics carries the process
 * metrics (prom-client, imported lazily: a bundled CommonJS package) besides ferry's own, and the
 * cluster page is found next to the bundle (`dist/ui/`), as a user who runs the build gets them.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDist } from '../../helpers/build';

const ROOT = join(import.meta.dirname, '../../..');

describe('the built ferry server', () => {
  let dir: string;
  let child: ReturnType<typeof spawn>;
  let url: string;
  let token: string;

  beforeAll(async () => {
    await buildDist();
    dir = await mkdtemp(join(tmpdir(), 'ferry-built-server-'));
    const config = join(dir, 'config.json');
    child = spawn(
      process.execPath,
      [join(ROOT, 'dist/cli.js'), 'server', '--port', '0', '--data-dir', join(dir, 'data'), '--log-level', 'error'],
      { env: { ...process.env, FERRY_CONFIG: config }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server did not start: ${out}`)), 30_000);
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m && out.includes('config')) {
          clearTimeout(timer);
          resolve(m[1] as string);
        }
      });
    });
    token = JSON.parse(await readFile(config, 'utf8')).token;
  }, 120_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("serves ferry's metrics with the process's, and the page from dist/ui", async () => {
    // act
    const metrics = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    const text = await metrics.text();
    const page = await fetch(`${url}/ui/`);
    const script = await fetch(`${url}/ui/app.js`);

    // assess
    expect(metrics.status).toBe(200);
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(text).toContain('# TYPE apiserver_request_total counter');
    expect(text).toContain('ferry_cluster_nodes{ready="True"} 0');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(script.status).toBe(200);
    expect(await script.text()).toContain('sessionStorage');
  });
});
