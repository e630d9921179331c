/** `<NAME>_SERVICE_HOST/PORT` and the Docker link variables a pod gets, as the kubelet sets them. */
import { describe, expect, it } from 'vitest';
import { serviceEnv } from '../../../agent/pods/env';
import type { ServiceRoute } from '../../../schemas/agent-protocol';

const routes: ServiceRoute[] = [
  {
    namespace: 'default',
    name: 'my-api',
    clusterIP: '10.96.0.20',
    ports: [
      { name: 'http', port: 80, nodePort: 30080, protocol: 'TCP', endpoints: [] },
      { name: 'dns', port: 53, nodePort: 30053, protocol: 'UDP', endpoints: [] },
    ],
  },
  {
    namespace: 'other',
    name: 'db',
    clusterIP: '10.96.0.21',
    ports: [{ port: 5432, nodePort: 30432, protocol: 'TCP', endpoints: [] }],
  },
  {
    namespace: 'default',
    name: 'peers',
    clusterIP: 'None',
    ports: [{ port: 7000, protocol: 'TCP', endpoints: [] }],
    pods: [],
  },
  { namespace: 'default', name: 'ext', type: 'ExternalName', externalName: 'example.com', ports: [] },
];

describe('service environment variables', () => {
  it('point at the cluster IP and the Service port, with the link variables, for Services of the namespace only', () => {
    // act
    const env = serviceEnv(routes, 'default', { clusterIPs: true, fallbackHost: '172.18.0.1' });

    // assess
    expect(env).toEqual([
      { name: 'MY_API_SERVICE_HOST', value: '10.96.0.20' },
      { name: 'MY_API_SERVICE_PORT', value: '80' },
      { name: 'MY_API_SERVICE_PORT_HTTP', value: '80' },
      { name: 'MY_API_SERVICE_PORT_DNS', value: '53' },
      { name: 'MY_API_PORT', value: 'tcp://10.96.0.20:80' },
      { name: 'MY_API_PORT_80_TCP', value: 'tcp://10.96.0.20:80' },
      { name: 'MY_API_PORT_80_TCP_PROTO', value: 'tcp' },
      { name: 'MY_API_PORT_80_TCP_PORT', value: '80' },
      { name: 'MY_API_PORT_80_TCP_ADDR', value: '10.96.0.20' },
      { name: 'MY_API_PORT_53_UDP', value: 'udp://10.96.0.20:53' },
      { name: 'MY_API_PORT_53_UDP_PROTO', value: 'udp' },
      { name: 'MY_API_PORT_53_UDP_PORT', value: '53' },
      { name: 'MY_API_PORT_53_UDP_ADDR', value: '10.96.0.20' },
    ]);
  });

  it('gives headless and ExternalName Services no variables', () => {
    const names = serviceEnv(routes, 'default', { clusterIPs: true, fallbackHost: '172.18.0.1' }).map((e) => e.name);
    expect(names.some((n) => n.startsWith('PEERS_') || n.startsWith('EXT_'))).toBe(false);
  });

  it('points at the node proxy and node ports on a node that cannot serve cluster IPs', () => {
    const env = serviceEnv(routes, 'other', { clusterIPs: false, fallbackHost: '172.18.0.1' });
    expect(env.slice(0, 3)).toEqual([
      { name: 'DB_SERVICE_HOST', value: '172.18.0.1' },
      { name: 'DB_SERVICE_PORT', value: '30432' },
      { name: 'DB_PORT', value: 'tcp://172.18.0.1:30432' },
    ]);
  });
});
