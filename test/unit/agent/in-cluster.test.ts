/**
 * A pod's way to the API on the node: the ServiceAccount token files (written, renewed in place
 * at 80% of their life, never for a pod that says no), the mount and the `KUBERNETES_SERVICE_*`
 * variables every container gets, and the relay that carries a container's connection to the API.
 */
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiRelay } from '../../../agent/api-relay';
import { ConfigNotReadyError } from '../../../agent/pods/config-sources';
import { PodTokens, SERVICE_ACCOUNT_PATH } from '../../../agent/pods/service-account';
import { FakeRuntime } from '../../../agent/runtime/fake';
import type { PodRef, PodTokenResponse } from '../../../schemas/agent-protocol';
import type { Pod } from '../../../schemas/pod';
import { pod as podOf, startManager, until } from './pod-harness';

const log = { debug() {}, info() {}, warn() {}, error() {} };
const T0 = Date.parse('2026-01-01T00:00:00Z');

function keeper(answers: (PodTokenResponse | Error)[]) {
  const now = { ms: T0 };
  const asked: PodRef[] = [];
  const stateDir = mkdtempSync(join(tmpdir(), 'ferry-sa-'));
  const tokens = new PodTokens({
    stateDir,
    fetch: async (ref) => {
      asked.push(ref);
      const next = answers.shift() ?? new Error('no more answers');
      if (next instanceof Error) throw next;
      return next;
    },
    caCert: () => '-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n',
    now: () => now.ms,
    log,
  });
  return { tokens, asked, now, stateDir };
}

const issued = (token: string, lifeMs = 3600_000): PodTokenResponse => ({
  automount: true,
  token,
  expirationTimestamp: new Date(T0 + lifeMs).toISOString(),
  namespace: 'team',
});
const aPod = (spec: Record<string, unknown> = {}) => podOf(spec, { namespace: 'team' }) as unknown as Pod;

describe('pod tokens on the node', () => {
  it('writes token, ca.crt and namespace readable by any user, and mounts them read-only at the standard path', async () => {
    // prepare
    const { tokens, stateDir } = keeper([issued('ferry_sa-1_secret')]);

    // act
    const mount = await tokens.mountFor(aPod(), []);

    // assess
    const dir = join(stateDir, 'pods', 'uid-1', 'serviceaccount');
    expect(mount).toEqual({ kind: 'bind', hostPath: dir, mountPath: SERVICE_ACCOUNT_PATH, readOnly: true });
    expect(readFileSync(join(dir, 'token'), 'utf8')).toBe('ferry_sa-1_secret');
    expect(readFileSync(join(dir, 'namespace'), 'utf8')).toBe('team');
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toContain('BEGIN CERTIFICATE');
    expect(statSync(join(dir, 'token')).mode & 0o777).toBe(0o644);
  });

  it('asks nothing for a pod with automountServiceAccountToken false, and mounts nothing the API says not to', async () => {
    // prepare
    const { tokens, asked } = keeper([{ automount: false }]);

    // act
    const off = await tokens.mountFor(aPod({ automountServiceAccountToken: false }), []);
    const bySa = await tokens.mountFor(aPod(), []);

    // assess
    expect(off).toBeUndefined();
    expect(bySa).toBeUndefined();
    expect(asked).toHaveLength(1);
  });

  it('leaves the path to a container that mounts something there itself', async () => {
    // prepare
    const { tokens, asked } = keeper([issued('t')]);

    // act
    const mount = await tokens.mountFor(aPod(), [{ mountPath: `${SERVICE_ACCOUNT_PATH}/` }]);

    // assess
    expect(mount).toBeUndefined();
    expect(asked).toHaveLength(0);
  });

  it('makes the container wait with the reason while the API gives no token', async () => {
    // prepare
    const { tokens } = keeper([new Error('calling /agent/v1/token: 404 serviceaccounts "robot" not found')]);

    // act
    const waiting = tokens.mountFor(aPod(), []);

    // assess
    await expect(waiting).rejects.toBeInstanceOf(ConfigNotReadyError);
    await expect(waiting).rejects.toThrow('serviceaccount token: calling /agent/v1/token: 404');
  });

  it('renews the token in place once 80% of its life has passed, and keeps the old one when renewal fails', async () => {
    // prepare
    const { tokens, asked, now, stateDir } = keeper([
      issued('first'),
      new Error('unreachable'),
      issued('second', 7200_000),
    ]);
    await tokens.mountFor(aPod(), []);
    const file = join(stateDir, 'pods', 'uid-1', 'serviceaccount', 'token');

    // act
    now.ms = T0 + 0.79 * 3600_000;
    await tokens.refresh(aPod());
    const early = asked.length;
    now.ms = T0 + 0.81 * 3600_000;
    await tokens.refresh(aPod());
    const afterFailure = readFileSync(file, 'utf8');
    await tokens.refresh(aPod());

    // assess
    expect(early).toBe(1);
    expect(afterFailure).toBe('first');
    expect(readFileSync(file, 'utf8')).toBe('second');
  });

  it('renews at once after an agent restart, for the running containers that mount a token it has not seen', async () => {
    // prepare
    const first = keeper([issued('before')]);
    await first.tokens.mountFor(aPod(), []);
    const restarted = new PodTokens({
      stateDir: first.stateDir,
      fetch: async () => issued('after'),
      caCert: () => '',
      now: () => T0,
      log,
    });

    // act
    await restarted.refresh(aPod());

    // assess
    expect(readFileSync(join(first.stateDir, 'pods', 'uid-1', 'serviceaccount', 'token'), 'utf8')).toBe('after');
  });
});

describe('the pod manager and in-cluster access', () => {
  it('gives every container the KUBERNETES_SERVICE variables (even without service links) and the token mount', async () => {
    // prepare
    const { tokens } = keeper([issued('t')]);
    const runtime = new FakeRuntime();
    const env = [{ name: 'KUBERNETES_SERVICE_HOST', value: '10.99.0.1' }];
    const { m } = await startManager(
      {
        inCluster: { env: () => env, hostAliases: () => [{ ip: '10.99.0.1', hostnames: ['api.example.com'] }], tokens },
      },
      runtime,
    );

    // act
    m.setDesired([podOf({ enableServiceLinks: false })]);
    await until(() => [...runtime.containers.values()].some((c) => c.role === 'container'), 'the container');

    // assess
    const app = [...runtime.containers.values()].find((c) => c.role === 'container');
    const sandbox = [...runtime.containers.values()].find((c) => c.role === 'sandbox');
    expect(app?.env).toContainEqual({ name: 'KUBERNETES_SERVICE_HOST', value: '10.99.0.1' });
    expect(app?.config?.mounts.map((x) => x.mountPath)).toContain(SERVICE_ACCOUNT_PATH);
    expect(sandbox?.sandbox?.hostAliases).toContainEqual({ ip: '10.99.0.1', hostnames: ['api.example.com'] });
  });
});

describe('the API relay', () => {
  let api: Server | undefined;
  const relays: ApiRelay[] = [];
  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.close()));
    await new Promise<void>((r) => (api ? api.close(() => r()) : r()));
    api = undefined;
  });

  it("carries a container's HTTP request to the API untouched, Authorization header included", async () => {
    // prepare
    api = createServer((req, res) => res.end(`${req.url} ${req.headers.authorization}`));
    await new Promise<void>((r) => api?.listen(0, '127.0.0.1', () => r()));
    const apiPort = (api.address() as { port: number }).port;
    const relay = new ApiRelay(`http://127.0.0.1:${apiPort}`, log);
    relays.push(relay);
    await relay.listen('127.0.0.1', 0);
    const vars = Object.fromEntries(relay.env().map((e) => [e.name, e.value]));

    // act
    const res = await fetch(`http://${vars.KUBERNETES_SERVICE_HOST}:${vars.KUBERNETES_SERVICE_PORT}/api/v1/pods`, {
      headers: { authorization: 'Bearer x' },
    });

    // assess
    expect(await res.text()).toBe('/api/v1/pods Bearer x');
    expect(vars.KUBERNETES_SERVICE_PORT_HTTPS).toBe(vars.KUBERNETES_SERVICE_PORT);
    expect(vars.KUBERNETES_PORT).toBe(`tcp://127.0.0.1:${vars.KUBERNETES_SERVICE_PORT}`);
    expect(relay.hostAliases()).toEqual([]);
  });

  it('passes TLS through untouched: a client verifies the API server itself with its CA', async () => {
    // prepare: the fixture certificate names 127.0.0.1, the relay's address here
    const tls = join(import.meta.dirname, '../../fixtures/tls');
    const cert = readFileSync(join(tls, 'cert.pem'));
    const server = createHttpsServer({ cert, key: readFileSync(join(tls, 'key.pem')) }, (req, res) => res.end(req.url));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const relay = new ApiRelay(`https://127.0.0.1:${(server.address() as { port: number }).port}`, log);
    relays.push(relay);
    await relay.listen('127.0.0.1', 0);
    const vars = Object.fromEntries(relay.env().map((e) => [e.name, e.value]));

    // act
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: vars.KUBERNETES_SERVICE_HOST,
          port: Number(vars.KUBERNETES_SERVICE_PORT),
          path: '/version',
          ca: cert,
          agent: false,
        },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end();
    });
    await new Promise<void>((r) => server.close(() => r()));

    // assess
    expect(body).toBe('/version');
  });

  it('names an HTTPS API by its DNS name, pointed at the gateway, so its certificate matches', async () => {
    // prepare
    const relay = new ApiRelay('https://ferry.example.com:7443', log);
    relays.push(relay);

    // act
    await relay.listen('127.0.0.1', 0);

    // assess
    const vars = Object.fromEntries(relay.env().map((e) => [e.name, e.value]));
    expect(vars.KUBERNETES_SERVICE_HOST).toBe('ferry.example.com');
    expect(relay.hostAliases()).toEqual([{ ip: '127.0.0.1', hostnames: ['ferry.example.com'] }]);
  });

  it('gives no variables before it listens', () => {
    expect(new ApiRelay('http://127.0.0.1:1', log).env()).toEqual([]);
  });
});
