import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CliResult, ferry } from './harness';

const TLS = join(import.meta.dirname, '../../fixtures/tls');

describe('ferry server', () => {
  let dir: string;
  let configFile: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-server-'));
    configFile = join(dir, 'xdg', 'ferry', 'config.json');
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts `ferry server` in-process and resolves once it has printed where it listens. */
  async function startServer(): Promise<{ url: string; output: () => string; stop: () => Promise<CliResult> }> {
    const abort = new AbortController();
    let all = '';
    let ready: (url: string) => void = () => {};
    const listening = new Promise<string>((r) => {
      ready = r;
    });
    const done = ferry(['server', '--port', '0', '--data-dir', join(dir, 'data'), '--no-controllers'], {
      env: { XDG_CONFIG_HOME: join(dir, 'xdg'), HOME: dir },
      signal: abort.signal,
      onOutput: (out, errText) => {
        all = out + errText;
        const m = /listening on (\S+)/.exec(out);
        if (m?.[1] && /admin token|existing store/.test(out)) ready(m[1]);
      },
    });
    const url = await Promise.race([
      listening,
      done.then((r) => Promise.reject(new Error(`server exited: ${r.stderr}`))),
    ]);
    return {
      url,
      output: () => all,
      stop: async () => {
        abort.abort();
        return done;
      },
    };
  }

  it('writes the admin token to the CLI config with mode 0600 and never prints it', async () => {
    // prepare
    const server = await startServer();

    // act
    const config = JSON.parse(await readFile(configFile, 'utf8')) as { server: string; token: string };
    const fileMode = (await stat(configFile)).mode & 0o777;
    const dirMode = (await stat(dirname(configFile))).mode & 0o777;
    const get = await ferry(['get', 'deployments'], { env: { XDG_CONFIG_HOME: join(dir, 'xdg'), HOME: dir } });
    const stopped = await server.stop();

    // assess
    expect(config.server).toBe(server.url);
    expect(config.token.length).toBeGreaterThan(16);
    expect(fileMode).toBe(0o600);
    expect(dirMode).toBe(0o700);
    expect(server.output()).toContain(configFile);
    expect(server.output()).not.toContain(config.token);
    expect(get.code).toBe(0);
    expect(get.stderr).toContain('No resources found');
    expect(stopped.code).toBe(0);
  });

  it('leaves the config alone when it starts on an existing store', async () => {
    // prepare
    const first = await startServer();
    await first.stop();
    const before = await readFile(configFile, 'utf8');

    // act
    const second = await startServer();
    const stopped = await second.stop();

    // assess
    expect(second.output()).toContain('existing store');
    expect(await readFile(configFile, 'utf8')).toBe(before);
    expect(stopped.code).toBe(0);
  });

  it('rejects a port that is not a number with a usage error', async () => {
    // act
    const result = await ferry(['server', '--port', 'http'], { env: { FERRY_CONFIG: configFile } });

    // assess
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: --port "http" is not a port number\n');
  });

  it('refuses half a TLS setting, or files that are not a certificate and key, before listening', async () => {
    // act
    const server = (...tls: string[]) => ferry(['server', '--port', '0', '--data-dir', join(dir, 'data'), ...tls]);
    const half = await server('--tls-cert', 'cert.pem');
    const missing = await server('--tls-cert', join(dir, 'nope.pem'), '--tls-key', join(dir, 'nope.pem'));
    const swapped = await server('--tls-cert', join(TLS, 'key.pem'), '--tls-key', join(TLS, 'cert.pem'));

    // assess
    expect(half.code).not.toBe(0);
    expect(half.stderr).toContain('--tls-cert and --tls-key go together');
    expect(missing.stderr).toMatch(/--tls-cert \S+nope\.pem: ENOENT/);
    expect(swapped.stderr).toContain('not a usable PEM certificate and key');
  });
});
