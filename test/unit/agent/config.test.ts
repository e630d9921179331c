/**
 * ConfigMaps and Secrets on the node, through the pod manager and the in-memory runtime: the
 * environment a container starts with, the files of configMap and secret volumes, and a container
 * waiting for a missing object that starts once the object arrives.
 */
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PodManager } from '../../../agent/pods/manager';
import { FakeRuntime } from '../../../agent/runtime/fake';
import type { ConfigSource } from '../../../schemas/agent-protocol';

const log = { debug() {}, info() {}, warn() {}, error() {} } as never;
const managers: PodManager[] = [];

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.stop()));
});

const b64 = (s: string) => Buffer.from(s).toString('base64');

const APP_CONFIG: ConfigSource = {
  namespace: 'shop',
  name: 'app',
  data: { LOG_LEVEL: 'debug', 'app.conf': 'listen 8080\n', 'bad name': 'skipped' },
};
const DB_SECRET: ConfigSource = { namespace: 'shop', name: 'db', data: { password: b64('s3cret'), user: b64('web') } };

function pod(spec: Record<string, unknown>, container: Record<string, unknown> = {}) {
  return {
    metadata: { name: 'web-1', namespace: 'shop', uid: 'uid-1' },
    spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'x', ...container }], ...spec },
  };
}

async function startManager(runtime: FakeRuntime): Promise<{ m: PodManager; stateDir: string }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'ferry-cfg-'));
  const m = new PodManager(runtime, { nodeIp: '127.0.1.1', stateDir, log, tickMs: 50 });
  managers.push(m);
  await m.start();
  return { m, stateDir };
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const appContainer = (runtime: FakeRuntime) => [...runtime.containers.values()].find((c) => c.role === 'container');

describe('ConfigMaps and Secrets on the node', () => {
  it('starts a container with env from keys and envFrom (prefixed), env winning, invalid names skipped', async () => {
    // prepare
    const runtime = new FakeRuntime();
    const { m } = await startManager(runtime);

    // act
    m.setDesired(
      [
        pod(
          {},
          {
            envFrom: [{ configMapRef: { name: 'app' }, prefix: 'CFG_' }, { secretRef: { name: 'db' } }],
            env: [
              { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
              { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'app', key: 'LOG_LEVEL' } } },
              { name: 'user', value: 'overridden' },
              { name: 'OPT', valueFrom: { configMapKeyRef: { name: 'nope', key: 'x', optional: true } } },
            ],
          },
        ),
      ],
      { configMaps: [APP_CONFIG], secrets: [DB_SECRET] },
    );
    await until(() => appContainer(runtime) !== undefined);

    // assess
    expect(Object.fromEntries(appContainer(runtime)?.env.map((e) => [e.name, e.value]) ?? [])).toEqual({
      CFG_LOG_LEVEL: 'debug',
      'CFG_app.conf': 'listen 8080\n',
      password: 's3cret',
      user: 'overridden',
      DB_PASSWORD: 's3cret',
      LEVEL: 'debug',
    });
  });

  it('waits with CreateContainerConfigError naming the missing object, then starts when it arrives', async () => {
    // prepare
    const runtime = new FakeRuntime();
    const { m } = await startManager(runtime);
    const p = pod({}, { env: [{ name: 'DB', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] });
    let reported = '';
    m.onStatusChange(() => {
      reported = JSON.stringify(m.changedStatuses());
    });
    m.setDesired([p], { configMaps: [], secrets: [] });
    await until(() => reported.includes('CreateContainerConfigError'));
    const waiting = reported;

    // act
    m.setDesired([p], { configMaps: [], secrets: [DB_SECRET] });
    const started = Date.now();
    await until(() => appContainer(runtime) !== undefined);

    // assess
    expect(waiting).toContain('secret \\"db\\" not found');
    expect(Date.now() - started).toBeLessThan(2000); // not the 10 s retry
    expect(appContainer(runtime)?.env).toContainEqual({ name: 'DB', value: 's3cret' });
  });

  it('names a missing key of an object that exists', async () => {
    // prepare
    const runtime = new FakeRuntime();
    const { m } = await startManager(runtime);
    let reported = '';
    m.onStatusChange(() => {
      reported = JSON.stringify(m.changedStatuses());
    });

    // act
    m.setDesired([pod({}, { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'app', key: 'PORT' } } }] })], {
      configMaps: [APP_CONFIG],
    });
    await until(() => reported.includes('CreateContainerConfigError'));

    // assess
    expect(reported).toContain("couldn't find key PORT in ConfigMap shop/app");
    expect(appContainer(runtime)).toBeUndefined();
  });

  it('projects configMap and secret volumes as read-only files with their modes, and updates them in place', async () => {
    // prepare
    const runtime = new FakeRuntime();
    const { m } = await startManager(runtime);
    const p = pod(
      {
        volumes: [
          { name: 'conf', configMap: { name: 'app', items: [{ key: 'app.conf', path: 'nginx/app.conf' }] } },
          { name: 'creds', secret: { secretName: 'db', defaultMode: 0o400 } },
        ],
      },
      {
        volumeMounts: [
          { name: 'conf', mountPath: '/etc/app' },
          { name: 'creds', mountPath: '/run/secrets/db', readOnly: false },
        ],
      },
    );

    // act
    m.setDesired([p], { configMaps: [APP_CONFIG], secrets: [DB_SECRET] });
    await until(() => appContainer(runtime) !== undefined);
    const mounts = (appContainer(runtime)?.config?.mounts ?? []).flatMap((v) => (v.kind === 'bind' ? [v] : []));
    const conf = mounts.find((v) => v.mountPath === '/etc/app');
    const creds = mounts.find((v) => v.mountPath === '/run/secrets/db');
    const before = readFileSync(join(conf?.hostPath ?? '', 'nginx/app.conf'), 'utf8');
    m.setDesired([p], {
      configMaps: [{ ...APP_CONFIG, data: { 'app.conf': 'listen 9090\n' } }],
      secrets: [{ ...DB_SECRET, data: { password: b64('rotated') } }],
    });

    // assess
    expect(before).toBe('listen 8080\n');
    expect(conf?.readOnly).toBe(true);
    expect(creds?.readOnly).toBe(true);
    expect(statSync(join(creds?.hostPath ?? '', 'password')).mode & 0o777).toBe(0o400);
    expect(readFileSync(join(conf?.hostPath ?? '', 'nginx/app.conf'), 'utf8')).toBe('listen 9090\n');
    expect(readFileSync(join(creds?.hostPath ?? '', 'password'), 'utf8')).toBe('rotated');
    expect(() => statSync(join(creds?.hostPath ?? '', 'user'))).toThrow(); // a key removed is a file removed
  });
});
