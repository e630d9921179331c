/**
 * The pod fields real manifests carry that ferry now runs, at the API: the kube-api-access
 * projected volume `kubectl get pod -o yaml` exports (serviceAccountToken, the kube-root-ca.crt
 * ConfigMap, the namespace), serviceAccountToken projections with an audience, and
 * `resourceFieldRef` in env and downwardAPI files, FallbackToLogsOnError and a termination message
 * path, a disk emptyDir's sizeLimit. Hostile input is refused with a 422 naming the field,
 * storing nothing: a short or huge expirationSeconds, an audience too long, a path out of the
 * volume, an unknown resource, a bad divisor, a volume item without its container, a relative
 * termination message path, a sizeLimit that is no quantity.
 */
import { describe, expect, it } from 'vitest';
import { startApi } from './harness';

const podOf = (spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec });

/** What `kubectl get pod -o yaml` shows of a pod on Kubernetes 1.30. */
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

const env = (resourceFieldRef: Record<string, unknown>) => ({
  containers: [{ name: 'app', image: 'img', env: [{ name: 'X', valueFrom: { resourceFieldRef } }] }],
});
const fileOf = (resourceFieldRef: Record<string, unknown>) => ({
  containers: [{ name: 'app', image: 'img' }],
  volumes: [{ name: 'info', downwardAPI: { items: [{ path: 'cpu', resourceFieldRef }] } }],
});
const tokenVolume = (serviceAccountToken: Record<string, unknown>) => ({
  containers: [{ name: 'app', image: 'img' }],
  volumes: [{ name: 't', projected: { sources: [{ serviceAccountToken }] } }],
});

describe('downward API and token fields real manifests carry', () => {
  it('accepts an exported pod with the kube-api-access volume and resourceFieldRef env and files', async () => {
    // prepare
    const api = await startApi();
    const spec = {
      containers: [
        {
          name: 'app',
          image: 'img',
          resources: { limits: { cpu: '2', memory: '256Mi' } },
          terminationMessagePolicy: 'FallbackToLogsOnError',
          terminationMessagePath: '/tmp/why',
          env: [
            { name: 'GOMAXPROCS', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '0' } } },
            {
              name: 'GOMEMLIMIT',
              valueFrom: { resourceFieldRef: { containerName: 'app', resource: 'limits.memory', divisor: '1Mi' } },
            },
          ],
          volumeMounts: [
            { name: KUBE_API_ACCESS.name, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
          ],
        },
      ],
      volumes: [
        KUBE_API_ACCESS,
        {
          name: 'info',
          downwardAPI: {
            items: [
              { path: 'mem', resourceFieldRef: { containerName: 'app', resource: 'requests.memory', divisor: '1Ki' } },
            ],
          },
        },
        { name: 'scratch', emptyDir: { sizeLimit: '1Gi' } },
        {
          name: 'vault',
          projected: { sources: [{ serviceAccountToken: { audience: 'vault', path: 'vault/token' } }] },
        },
      ],
    };

    // act
    const res = await api.send('POST', '/api/v1/namespaces/default/pods', { body: podOf(spec) });

    // assess
    expect(res.json.details?.causes ?? []).toEqual([]);
    expect(res.status).toBe(201);
  });

  it('accepts a whole `kubectl get pod -o yaml` export unchanged, status and server fields included', async () => {
    // prepare
    const api = await startApi();
    const exported = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'web-7d4b9c8f6d-x2k9q',
        namespace: 'default',
        generateName: 'web-7d4b9c8f6d-',
        labels: { app: 'web', 'pod-template-hash': '7d4b9c8f6d' },
        creationTimestamp: '2026-01-01T00:00:00Z',
        resourceVersion: '123',
        uid: '0b1c2d3e-1111-2222-3333-444455556666',
      },
      spec: {
        containers: [
          {
            name: 'nginx',
            image: 'nginx:1.27',
            imagePullPolicy: 'IfNotPresent',
            ports: [{ containerPort: 80, protocol: 'TCP' }],
            resources: {},
            terminationMessagePath: '/dev/termination-log',
            terminationMessagePolicy: 'File',
            volumeMounts: [
              {
                mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
                name: KUBE_API_ACCESS.name,
                readOnly: true,
              },
            ],
          },
        ],
        dnsPolicy: 'ClusterFirst',
        enableServiceLinks: true,
        preemptionPolicy: 'PreemptLowerPriority',
        priority: 0,
        restartPolicy: 'Always',
        schedulerName: 'default-scheduler',
        securityContext: {},
        serviceAccount: 'default',
        serviceAccountName: 'default',
        terminationGracePeriodSeconds: 30,
        tolerations: [
          { effect: 'NoExecute', key: 'node.kubernetes.io/not-ready', operator: 'Exists', tolerationSeconds: 300 },
          { effect: 'NoExecute', key: 'node.kubernetes.io/unreachable', operator: 'Exists', tolerationSeconds: 300 },
        ],
        volumes: [KUBE_API_ACCESS],
      },
      status: { phase: 'Running', qosClass: 'BestEffort' },
    };

    // act
    const res = await api.send('POST', '/api/v1/namespaces/default/pods', { body: exported });

    // assess
    expect(res.json.details?.causes ?? []).toEqual([]);
    expect(res.status).toBe(201);
  });

  const HOSTILE: [string, Record<string, unknown>, string][] = [
    [
      'an expirationSeconds under ten minutes',
      tokenVolume({ path: 't', expirationSeconds: 599 }),
      'spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds',
    ],
    [
      'an expirationSeconds over 2^32',
      tokenVolume({ path: 't', expirationSeconds: 2 ** 32 + 1 }),
      'spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds',
    ],
    [
      'an audience too long',
      tokenVolume({ path: 't', audience: 'a'.repeat(1025) }),
      'spec.volumes[0].projected.sources[0].serviceAccountToken.audience',
    ],
    [
      'a token path out of the volume',
      tokenVolume({ path: '../../etc/passwd' }),
      'spec.volumes[0].projected.sources[0].serviceAccountToken.path',
    ],
    [
      'an absolute token path',
      tokenVolume({ path: '/token' }),
      'spec.volumes[0].projected.sources[0].serviceAccountToken.path',
    ],
    ['an empty token path', tokenVolume({ path: '' }), 'spec.volumes[0].projected.sources[0].serviceAccountToken.path'],
    [
      'an unknown field in a token projection',
      tokenVolume({ path: 't', lifetime: 600 }),
      'spec.volumes[0].projected.sources[0].serviceAccountToken',
    ],
    [
      'an unknown resource',
      env({ resource: 'limits.gpu' }),
      'spec.containers[0].env[0].valueFrom.resourceFieldRef.resource',
    ],
    [
      'a resource that is no resource field',
      env({ resource: 'cpu' }),
      'spec.containers[0].env[0].valueFrom.resourceFieldRef.resource',
    ],
    [
      'a hugepages resource',
      env({ resource: 'limits.hugepages-2Mi' }),
      'spec.containers[0].env[0].valueFrom.resourceFieldRef.resource',
    ],
    [
      'a cpu divisor of 2m',
      env({ resource: 'limits.cpu', divisor: '2m' }),
      'spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor',
    ],
    [
      'a memory divisor of 1m',
      env({ resource: 'limits.memory', divisor: '1m' }),
      'spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor',
    ],
    [
      'a divisor that is no quantity',
      env({ resource: 'limits.memory', divisor: 'lots' }),
      'spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor',
    ],
    [
      'a container that is not in the pod',
      env({ resource: 'limits.cpu', containerName: 'ghost' }),
      'spec.containers[0].env[0].valueFrom.resourceFieldRef.containerName',
    ],
    [
      'a volume file without its container',
      fileOf({ resource: 'limits.cpu' }),
      'spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName',
    ],
    [
      'a volume file with a bad divisor',
      fileOf({ resource: 'requests.cpu', containerName: 'app', divisor: '1Mi' }),
      'spec.volumes[0].downwardAPI.items[0].resourceFieldRef.divisor',
    ],
    [
      'an emptyDir sizeLimit that is no quantity',
      { containers: [{ name: 'app', image: 'img' }], volumes: [{ name: 'd', emptyDir: { sizeLimit: 'big' } }] },
      'spec.volumes[0].emptyDir.sizeLimit',
    ],
    [
      'a negative emptyDir sizeLimit',
      { containers: [{ name: 'app', image: 'img' }], volumes: [{ name: 'd', emptyDir: { sizeLimit: '-1Gi' } }] },
      'spec.volumes[0].emptyDir.sizeLimit',
    ],
    [
      'a relative terminationMessagePath',
      { containers: [{ name: 'app', image: 'img', terminationMessagePath: 'log' }] },
      'spec.containers[0].terminationMessagePath',
    ],
  ];

  it.each(HOSTILE)('refuses %s with a 422 naming the field, storing nothing', async (_, spec, field) => {
    // prepare
    const api = await startApi();
    const before = await api.snapshot();

    // act
    const res = await api.send('POST', '/api/v1/namespaces/default/pods', { body: podOf(spec) });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.message).toContain(field);
    expect(await api.snapshot()).toBe(before);
  });

  it('refuses a volume item with both fieldRef and resourceFieldRef', async () => {
    // prepare
    const api = await startApi();
    const spec = fileOf({ resource: 'limits.cpu', containerName: 'app' }) as {
      volumes: { downwardAPI: { items: Record<string, unknown>[] } }[];
    };
    (spec.volumes[0]?.downwardAPI.items[0] as Record<string, unknown>).fieldRef = { fieldPath: 'metadata.name' };

    // act
    const res = await api.send('POST', '/api/v1/namespaces/default/pods', { body: podOf(spec) });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.message).toContain('fieldRef and resourceFieldRef can not be specified simultaneously');
  });
});
