/**
 * What an exported pod's volumes and env need on the node, over the fake runtime: the standard
 * kube-api-access projected volume (its own token with the projection's life, the node's CA as
 * kube-root-ca.crt, the namespace), a token for another audience, renewal at 80% of a token's
 * life into the running container's file, the wait while the API gives none, and
 * `resourceFieldRef` values in env and files (divisors, a request defaulting to its limit, the
 * node's allocatable where no limit is set).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PodTokens, SERVICE_ACCOUNT_PATH } from '../../../agent/pods/service-account';
import { FakeRuntime } from '../../../agent/runtime/fake';
import type { PodRef, PodTokenResponse, TokenProjection } from '../../../schemas/agent-protocol';
import { pod as podOf, startManager, statusOf, until } from './pod-harness';

const log = { debug() {}, info() {}, warn() {}, error() {} };
const CA = '-----BEGIN CERTIFICATE-----\nnode-ca\n-----END CERTIFICATE-----\n';

function keeper(stateDir: () => string, fail = false) {
  const now = { ms: Date.now() };
  const asked: { pod: PodRef; projection?: TokenProjection }[] = [];
  let n = 0;
  const tokens = new PodTokens({
    get stateDir() {
      return stateDir();
    },
    fetch: async (pod, projection): Promise<PodTokenResponse> => {
      asked.push({ pod, ...(projection ? { projection } : {}) });
      if (fail) throw new Error('serviceaccounts "default" not found');
      n++;
      const life = (projection?.expirationSeconds ?? 3600) * 1000;
      return {
        automount: true,
        token: `tok-${projection?.audience ?? 'api'}-${n}`,
        expirationTimestamp: new Date(now.ms + life).toISOString(),
        namespace: 'team',
      };
    },
    caCert: () => CA,
    now: () => now.ms,
    log,
  });
  return { tokens, asked, now };
}

const KUBE_API_ACCESS = {
  name: 'kube-api-access-8xk2n',
  projected: {
    defaultMode: 420,
    sources: [
      { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      {
        downwardAPI: {
          items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
        },
      },
    ],
  },
};
const VAULT = {
  name: 'vault',
  projected: { sources: [{ serviceAccountToken: { audience: 'vault', expirationSeconds: 600, path: 'v/token' } }] },
};

async function run(spec: Record<string, unknown>, fail = false) {
  let dir = '';
  const k = keeper(() => dir, fail);
  const runtime = new FakeRuntime();
  const started = await startManager(
    {
      inCluster: { env: () => [], hostAliases: () => [], tokens: k.tokens },
      allocatable: () => ({ cpu: '4', memory: '8Gi', 'ephemeral-storage': '100Gi' }),
    },
    runtime,
  );
  dir = started.stateDir;
  const volume = (name: string, file: string) => join(started.stateDir, 'pods', 'uid-1', 'volumes', name, file);
  started.m.setDesired([podOf(spec, { namespace: 'team' }) as never]);
  return { ...started, ...k, volume };
}

const app = (runtime: FakeRuntime) => [...runtime.containers.values()].find((c) => c.role === 'container');

describe('projected ServiceAccount tokens on the node', () => {
  it('fills the kube-api-access volume an exported pod carries: its own token, the node CA, the namespace', async () => {
    // prepare
    const spec = {
      volumes: [KUBE_API_ACCESS],
      containers: [
        {
          name: 'app',
          image: 'img',
          volumeMounts: [{ name: KUBE_API_ACCESS.name, mountPath: SERVICE_ACCOUNT_PATH, readOnly: true }],
        },
      ],
    };

    // act
    const { runtime, asked, volume } = await run(spec);
    await until(() => app(runtime) !== undefined, 'the container');

    // assess
    expect(readFileSync(volume(KUBE_API_ACCESS.name, 'token'), 'utf8')).toBe('tok-api-1');
    expect(readFileSync(volume(KUBE_API_ACCESS.name, 'ca.crt'), 'utf8')).toBe(CA);
    expect(readFileSync(volume(KUBE_API_ACCESS.name, 'namespace'), 'utf8')).toBe('team');
    // the pod's own volume at the standard path: no second, default token is asked for or mounted
    expect(asked.map((a) => a.projection)).toEqual([{ expirationSeconds: 3607 }]);
    const mounts = app(runtime)?.config?.mounts.filter((x) => x.mountPath === SERVICE_ACCOUNT_PATH) ?? [];
    expect(mounts).toHaveLength(1);
    expect(mounts[0]).toMatchObject({ readOnly: true });
  });

  it("writes a token for another audience at the projection's path and renews it at 80% of its life", async () => {
    // prepare
    const spec = {
      volumes: [VAULT],
      containers: [{ name: 'app', image: 'img', volumeMounts: [{ name: 'vault', mountPath: '/vault' }] }],
    };
    const { runtime, now, volume, asked } = await run(spec);
    await until(() => app(runtime) !== undefined, 'the container');
    const first = readFileSync(volume('vault', 'v/token'), 'utf8');

    // act: 70% of 600 s, then 85%
    now.ms += 420_000;
    await new Promise((r) => setTimeout(r, 150));
    const at70 = readFileSync(volume('vault', 'v/token'), 'utf8');
    now.ms += 90_000;
    await until(() => readFileSync(volume('vault', 'v/token'), 'utf8') !== first, 'the renewed token');

    // assess
    expect(first).toBe('tok-vault-1');
    expect(at70).toBe(first);
    expect(readFileSync(volume('vault', 'v/token'), 'utf8')).toMatch(/^tok-vault-\d+$/);
    expect(asked.filter((a) => a.projection).every((a) => a.projection?.audience === 'vault')).toBe(true);
  });

  it('keeps the container waiting with the reason while the API gives no token', async () => {
    // prepare
    const spec = {
      volumes: [VAULT],
      containers: [{ name: 'app', image: 'img', volumeMounts: [{ name: 'vault', mountPath: '/vault' }] }],
    };

    // act
    const { m, runtime } = await run({ ...spec, automountServiceAccountToken: false }, true);
    await until(
      () => statusOf(m).containerStatuses?.[0]?.state.waiting?.reason === 'CreateContainerConfigError',
      'the wait',
    );

    // assess
    expect(app(runtime)).toBeUndefined();
    expect(JSON.stringify(statusOf(m).containerStatuses)).toContain('serviceaccounts \\"default\\" not found');
  });
});

describe('projected tokens when the API fails', () => {
  it('asks a failing API again every 10 seconds, not at every pass, and reports its error meanwhile', async () => {
    // prepare
    const { tokens, asked, now } = keeper(() => '/nonexistent', true);
    const p = podOf({ volumes: [VAULT] }, { namespace: 'team' }) as never;

    // act
    await tokens.ensureProjected(p);
    await tokens.ensureProjected(p);
    now.ms += 5_000;
    await tokens.ensureProjected(p);
    const early = asked.length;
    now.ms += 5_000;
    await tokens.ensureProjected(p);

    // assess
    expect(early).toBe(1);
    expect(asked).toHaveLength(2);
    expect(() => tokens.projectedToken(p, { audience: 'vault', expirationSeconds: 600 })).toThrow(
      'serviceaccounts "default" not found',
    );
  });
});

describe('resourceFieldRef on the node', () => {
  it('gives env and files the limits and requests as the kubelet does, the node allocatable where no limit is set', async () => {
    // prepare
    const ref = (resource: string, divisor?: string) => ({
      resourceFieldRef: { resource, ...(divisor ? { divisor } : {}) },
    });
    const spec = {
      automountServiceAccountToken: false,
      containers: [
        {
          name: 'app',
          image: 'img',
          resources: { limits: { cpu: '1500m', memory: '256Mi' } },
          env: [
            { name: 'GOMAXPROCS', valueFrom: ref('limits.cpu', '0') },
            { name: 'CPU_MILLI', valueFrom: ref('limits.cpu', '1m') },
            { name: 'GOMEMLIMIT', valueFrom: ref('limits.memory') },
            { name: 'MEM_MI', valueFrom: ref('limits.memory', '1Mi') },
            { name: 'REQ_CPU', valueFrom: ref('requests.cpu', '1m') },
            { name: 'DISK_GI', valueFrom: ref('limits.ephemeral-storage', '1Gi') },
          ],
          volumeMounts: [{ name: 'info', mountPath: '/info' }],
        },
        { name: 'side', image: 'img' },
      ],
      volumes: [
        {
          name: 'info',
          downwardAPI: {
            items: [
              { path: 'side_cpu', resourceFieldRef: { containerName: 'side', resource: 'limits.cpu' } },
              { path: 'side_mem_req', resourceFieldRef: { containerName: 'side', resource: 'requests.memory' } },
              {
                path: 'app_mem_ki',
                resourceFieldRef: { containerName: 'app', resource: 'requests.memory', divisor: '1Ki' },
              },
            ],
          },
        },
      ],
    };

    // act
    const { runtime, volume } = await run(spec);
    await until(() => app(runtime) !== undefined, 'the container');

    // assess
    const env = Object.fromEntries((app(runtime)?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      GOMAXPROCS: '2', // 1.5 cores rounded up
      CPU_MILLI: '1500',
      GOMEMLIMIT: String(256 * 1024 * 1024),
      MEM_MI: '256',
      REQ_CPU: '1500', // a request not set is its limit
      DISK_GI: '100', // no limit: the node's allocatable
    });
    expect(readFileSync(volume('info', 'side_cpu'), 'utf8')).toBe('4');
    expect(readFileSync(volume('info', 'side_mem_req'), 'utf8')).toBe('0');
    expect(readFileSync(volume('info', 'app_mem_ki'), 'utf8')).toBe('262144');
  });
});
