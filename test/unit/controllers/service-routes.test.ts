/**
 * The route a Service publishes to every node (functions/service-routes.ts routeOf): its type,
 * cluster IP, external name, ports with node ports and ready endpoints, and a headless Service's
 * pods, which the node's proxy and DNS server serve.
 */
import { describe, expect, it } from 'vitest';
import { headlessPods, podPortsOf, routeOf, type ServiceLike } from '../../../functions/service-routes';
import type { Pod } from '../../../schemas';

const svc = (spec: ServiceLike['spec'], name = 'web'): ServiceLike => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec,
});
const endpoints = {
  apiVersion: 'v1',
  kind: 'Endpoints',
  metadata: { name: 'web', namespace: 'default' },
  subsets: [{ addresses: [{ ip: '10.0.0.1' }], ports: [{ name: 'http', port: 31001, protocol: 'TCP' }] }],
};
const pod = (name: string, extra: { ready?: boolean; ip?: string; hostname?: string; terminating?: boolean } = {}) =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      ...(extra.terminating ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    spec: { nodeName: 'n1', containers: [], ...(extra.hostname ? { hostname: extra.hostname, subdomain: 'db' } : {}) },
    status: {
      phase: 'Running',
      ...(extra.ip === '' ? {} : { podIP: extra.ip ?? `172.18.0.${name.length}` }),
      conditions: [{ type: 'Ready', status: extra.ready === false ? 'False' : 'True' }],
    },
  }) as unknown as Pod;
const isReady = (p: Pod) => p.status?.conditions?.[0]?.status === 'True';

describe('routeOf', () => {
  it('carries the cluster IP, the type and each port with its node port and ready endpoints', () => {
    // act
    const route = routeOf(
      svc({
        type: 'NodePort',
        clusterIP: '10.96.4.2',
        ports: [{ name: 'http', port: 80, nodePort: 30080, protocol: 'TCP' }],
      }),
      endpoints,
    );

    // assess
    expect(route).toEqual({
      namespace: 'default',
      name: 'web',
      type: 'NodePort',
      clusterIP: '10.96.4.2',
      ports: [
        { name: 'http', port: 80, nodePort: 30080, protocol: 'TCP', endpoints: [{ ip: '10.0.0.1', port: 31001 }] },
      ],
    });
  });

  it('names each endpoint’s pod IP and container port behind its host port, for nodes on the same machine', () => {
    // prepare
    const running = (name: string, status: Record<string, unknown>, terminating = false) =>
      ({
        metadata: { name, namespace: 'default', ...(terminating ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
        spec: { containers: [] },
        status,
      }) as unknown as Pod;
    const behind = podPortsOf([
      running('a', {
        hostIP: '10.0.0.1',
        podIP: '172.21.0.7',
        portMappings: [{ containerPort: 8080, hostPort: 31001 }],
      }),
      // Not started (no pod IP), going away, or a UDP port: nothing to name.
      running('b', { hostIP: '10.0.0.1', portMappings: [{ containerPort: 8080, hostPort: 31002 }] }),
      running(
        'c',
        { hostIP: '10.0.0.2', podIP: '172.22.0.2', portMappings: [{ containerPort: 80, hostPort: 31001 }] },
        true,
      ),
      running('d', {
        hostIP: '10.0.0.3',
        podIP: '172.23.0.2',
        portMappings: [{ containerPort: 53, hostPort: 31001, protocol: 'UDP' }],
      }),
    ]);
    const two = {
      ...endpoints,
      subsets: [
        {
          addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }, { ip: '10.0.0.3' }],
          ports: [{ name: 'http', port: 31001, protocol: 'TCP' }],
        },
      ],
    };

    // act
    const route = routeOf(
      svc({ clusterIP: '10.96.4.2', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }),
      two,
      undefined,
      behind,
    );

    // assess
    expect(route?.ports[0]?.endpoints).toEqual([
      { ip: '10.0.0.1', port: 31001, podIP: '172.21.0.7', podPort: 8080 },
      { ip: '10.0.0.2', port: 31001 },
      { ip: '10.0.0.3', port: 31001 },
    ]);
  });

  it('publishes an ExternalName Service with its name and no ports, so DNS can answer it', () => {
    expect(routeOf(svc({ type: 'ExternalName', externalName: 'db.example.com' }), undefined)).toEqual({
      namespace: 'default',
      name: 'web',
      type: 'ExternalName',
      externalName: 'db.example.com',
      ports: [],
    });
  });

  it('publishes a headless Service with its pods even when it has no ports', () => {
    // act
    const route = routeOf(svc({ clusterIP: 'None' }), undefined, [{ ip: '172.18.0.5', nodeName: 'n1' }]);

    // assess
    expect(route).toEqual({
      namespace: 'default',
      name: 'web',
      clusterIP: 'None',
      ports: [],
      pods: [{ ip: '172.18.0.5', nodeName: 'n1' }],
    });
  });

  it('leaves out a Service with no port that is neither headless nor ExternalName', () => {
    expect(routeOf(svc({ clusterIP: '10.96.0.9' }), undefined)).toBeUndefined();
  });
});

describe('headlessPods', () => {
  it('lists ready pods with an address by name, with hostname and subdomain, and not terminating ones', () => {
    // prepare
    const pods = [
      pod('web-b', { hostname: 'web-b' }),
      pod('web-a'),
      pod('web-c', { ready: false }),
      pod('web-d', { terminating: true }),
      pod('web-e', { ip: '' }),
    ];

    // act
    const listed = headlessPods(svc({ clusterIP: 'None' }), pods, isReady);

    // assess
    expect(listed).toEqual([
      { ip: '172.18.0.5', nodeName: 'n1' },
      { ip: '172.18.0.5', nodeName: 'n1', hostname: 'web-b', subdomain: 'db' },
    ]);
  });

  it('lists not-ready pods too with publishNotReadyAddresses', () => {
    const listed = headlessPods(
      svc({ clusterIP: 'None', publishNotReadyAddresses: true }),
      [pod('a', { ready: false })],
      isReady,
    );
    expect(listed).toHaveLength(1);
  });
});
