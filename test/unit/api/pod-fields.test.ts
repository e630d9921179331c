/**
 * Accepted means honoured: each Pod field ferry cannot run yet is refused with a 422 that names
 * the field and says so, on a Pod and inside a Deployment's template, and nothing is stored; the
 * fields the agent runs are accepted.
 */
import { describe, expect, it } from 'vitest';
import { startApi } from './harness';

const base = { containers: [{ name: 'app', image: 'img' }] };
const withContainer = (extra: Record<string, unknown>) => ({ containers: [{ name: 'app', image: 'img', ...extra }] });

const REFUSED: [string, Record<string, unknown>, string, string][] = [
  [
    'a downwardAPI volume file of spec.nodeName',
    {
      ...base,
      volumes: [{ name: 'd', downwardAPI: { items: [{ path: 'n', fieldRef: { fieldPath: 'spec.nodeName' } }] } }],
    },
    'spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath',
    'this downward API fieldPath in a volume',
  ],
  [
    'an ephemeral volume',
    { ...base, volumes: [{ name: 'd', ephemeral: {} }] },
    'spec.volumes[0].ephemeral',
    'ephemeral volumes',
  ],
  ['a CSI volume', { ...base, volumes: [{ name: 'd', csi: { driver: 'x' } }] }, 'spec.volumes[0].csi', 'CSI volumes'],
  [
    'an NFS volume',
    { ...base, volumes: [{ name: 'd', nfs: { server: 'x', path: '/' } }] },
    'spec.volumes[0].nfs',
    'NFS volumes',
  ],
  [
    'a HugePages emptyDir',
    { ...base, volumes: [{ name: 'd', emptyDir: { medium: 'HugePages' } }] },
    'spec.volumes[0].emptyDir.medium',
    'emptyDir medium other than Memory',
  ],
  ['runtimeClassName', { ...base, runtimeClassName: 'gvisor' }, 'spec.runtimeClassName', 'runtimeClassName'],
  ['hostNetwork', { ...base, hostNetwork: true }, 'spec.hostNetwork', 'hostNetwork'],
  [
    'ephemeralContainers',
    { ...base, ephemeralContainers: [{ name: 'debug' }] },
    'spec.ephemeralContainers',
    'ephemeral containers',
  ],
  [
    'seLinuxOptions',
    { ...base, securityContext: { seLinuxOptions: { level: 's0' } } },
    'spec.securityContext.seLinuxOptions',
    'SELinux options',
  ],
  [
    'a Localhost seccomp profile',
    withContainer({ securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' } } }),
    'spec.containers[0].securityContext.seccompProfile.type',
    'Localhost seccomp profiles',
  ],
  [
    'mountPropagation',
    {
      ...withContainer({ volumeMounts: [{ name: 'd', mountPath: '/d', mountPropagation: 'Bidirectional' }] }),
      volumes: [{ name: 'd', emptyDir: {} }],
    },
    'spec.containers[0].volumeMounts[0].mountPropagation',
    'mountPropagation other than None',
  ],
  [
    'subPath into a Memory emptyDir',
    {
      ...withContainer({ volumeMounts: [{ name: 'd', mountPath: '/d', subPath: 'x' }] }),
      volumes: [{ name: 'd', emptyDir: { medium: 'Memory' } }],
    },
    'spec.containers[0].volumeMounts[0].subPath',
    'subPath into a medium: Memory emptyDir',
  ],
  [
    'an unknown fieldPath',
    withContainer({ env: [{ name: 'M', valueFrom: { fieldRef: { fieldPath: 'spec.hostname' } } }] }),
    'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath',
    'this downward API fieldPath',
  ],
  ['a windows pod', { ...base, os: { name: 'windows' } }, 'spec.os.name', 'Pods for an OS other than linux'],
];

const pod = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec,
});

describe('Pod fields ferry does not support yet', () => {
  it.each(REFUSED)('refuses %s with a 422 naming the field, storing nothing', async (_, spec, field, what) => {
    // prepare
    const api = await startApi();
    const before = await api.snapshot();

    // act
    const res = await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('p', spec) });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes).toContainEqual({
      field,
      reason: 'FieldValueNotSupported',
      message: `ferry does not support ${what} yet`,
    });
    expect(await api.snapshot()).toBe(before);
  });

  it('refuses them inside a Deployment template too, at the template path', async () => {
    // prepare
    const api = await startApi();
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd' },
      spec: {
        selector: { matchLabels: { app: 'd' } },
        template: {
          metadata: { labels: { app: 'd' } },
          spec: { ...base, volumes: [{ name: 'x', ephemeral: {} }] },
        },
      },
    };

    // act
    const res = await api.send('POST', '/apis/apps/v1/namespaces/default/deployments', { body: deployment });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.map((c) => c.field)).toContain('spec.template.spec.volumes[0].ephemeral');
  });

  it('accepts the fields the agent runs: init containers, sidecars, securityContext, hooks, gRPC and startup probes, memory emptyDirs', async () => {
    // prepare
    const api = await startApi();
    const spec = {
      initContainers: [
        { name: 'migrate', image: 'img' },
        { name: 'proxy', image: 'img', restartPolicy: 'Always' },
      ],
      containers: [
        {
          name: 'app',
          image: 'img',
          securityContext: {
            runAsUser: 1000,
            runAsGroup: 1000,
            runAsNonRoot: true,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
          lifecycle: { preStop: { sleep: { seconds: 1 } }, postStart: { exec: { command: ['true'] } } },
          readinessProbe: { grpc: { port: 9000, service: 'shop' } },
          startupProbe: { httpGet: { path: '/', port: 80 }, terminationGracePeriodSeconds: 3 },
          volumeMounts: [
            { name: 'scratch', mountPath: '/scratch' },
            { name: 'logs', mountPath: '/logs', subPathExpr: '$(POD_NAME)' },
          ],
        },
      ],
      volumes: [
        { name: 'scratch', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
        { name: 'logs', emptyDir: {} },
      ],
      securityContext: {
        fsGroup: 2000,
        supplementalGroups: [3000],
        sysctls: [{ name: 'net.ipv4.tcp_syncookies', value: '1' }],
      },
      hostAliases: [{ ip: '10.0.0.1', hostnames: ['db.local'] }],
      shareProcessNamespace: true,
      imagePullSecrets: [{ name: 'registry' }],
    };

    // act
    const res = await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod('ok', spec) });

    // assess
    expect(res.json.details?.causes ?? []).toEqual([]);
    expect(res.status).toBe(201);
  });

  it('refuses a made-up key inside securityContext, as unknown fields everywhere', async () => {
    // prepare
    const api = await startApi();

    // act
    const res = await api.send('POST', '/api/v1/namespaces/default/pods', {
      body: pod('p', withContainer({ securityContext: { runAsUsr: 1000 } })),
    });

    // assess
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.json.details?.causes)).toContain('runAsUsr');
  });
});
