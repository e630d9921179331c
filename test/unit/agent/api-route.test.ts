/**
 * The `kubernetes` Service on a node: its route gets the node's API relay as its endpoint at
 * intake, before the service proxy sees it; nothing else is touched; the relay is told the
 * Service's address (when the node serves cluster IPs) and renews its certificate when it moves.
 */
import { describe, expect, it } from 'vitest';
import {
  type Address,
  ApiRouteIntake,
  exceptKubernetes,
  kubernetesServiceAddress,
  withRelayEndpoint,
} from '../../../agent/api-route';
import { serviceEnv } from '../../../agent/pods/env';
import type { ServiceRoute } from '../../../schemas/agent-protocol';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const kubernetes: ServiceRoute = {
  namespace: 'default',
  name: 'kubernetes',
  clusterIP: '10.96.0.1',
  ports: [
    { name: 'https', port: 443, nodePort: 31000, protocol: 'TCP', endpoints: [{ ip: '203.0.113.9', port: 6443 }] },
  ],
};
const web: ServiceRoute = {
  namespace: 'default',
  name: 'web',
  clusterIP: '10.96.3.4',
  ports: [{ port: 80, nodePort: 30080, protocol: 'TCP', endpoints: [{ ip: '10.0.0.2', port: 41000 }] }],
};
const relay: Address = { host: '172.18.0.1', port: 7444 };

describe('the kubernetes Service route at intake', () => {
  it("sends the kubernetes Service's TCP ports to this node's relay, whatever endpoints the API sent", () => {
    const [out] = withRelayEndpoint([kubernetes], relay);
    expect(out?.ports).toEqual([
      { name: 'https', port: 443, nodePort: 31000, protocol: 'TCP', endpoints: [{ ip: '172.18.0.1', port: 7444 }] },
    ]);
    expect(kubernetes.ports[0]?.endpoints).toEqual([{ ip: '203.0.113.9', port: 6443 }]); // not mutated
  });

  it('leaves every other route as it came, a Service named kubernetes in another namespace too', () => {
    const elsewhere = { ...kubernetes, namespace: 'team' };
    const out = withRelayEndpoint([web, elsewhere], relay);
    expect(out[0]).toBe(web);
    expect(out[1]).toBe(elsewhere);
  });

  it('gives it no endpoint while the relay does not listen, and none to a UDP port', () => {
    const udp = { ...kubernetes, ports: [...kubernetes.ports, { port: 53, protocol: 'UDP', endpoints: [] }] };
    expect(withRelayEndpoint([kubernetes], undefined)[0]?.ports[0]?.endpoints).toEqual([]);
    expect(withRelayEndpoint([udp], relay)[0]?.ports[1]?.endpoints).toEqual([]);
  });

  it("leaves KUBERNETES_SERVICE_* of pods in default to the relay, not to the Service variables (an HTTPS API's certificate does not name the cluster IP)", () => {
    const env = serviceEnv(exceptKubernetes([web, kubernetes]), 'default', {
      clusterIPs: true,
      fallbackHost: '172.18.0.1',
    });
    expect(env.some((e) => e.name.startsWith('KUBERNETES_'))).toBe(false);
    expect(env.find((e) => e.name === 'WEB_SERVICE_HOST')?.value).toBe('10.96.3.4');
    const routes = [web];
    expect(exceptKubernetes(routes)).toBe(routes); // nothing copied when there is nothing to drop
  });

  it("finds the Service's cluster IP and https port, and nothing for a route without an IPv4 cluster IP", () => {
    expect(kubernetesServiceAddress([web, kubernetes])).toEqual({ host: '10.96.0.1', port: 443 });
    expect(kubernetesServiceAddress([{ ...kubernetes, clusterIP: 'None' }])).toBeUndefined();
    expect(kubernetesServiceAddress([{ ...kubernetes, clusterIP: '10.96.0.1; rm -rf /' }])).toBeUndefined();
    expect(kubernetesServiceAddress([web])).toBeUndefined();
  });
});

function intakeWith(served: boolean) {
  const sent: ServiceRoute[][] = [];
  const told: (Address | undefined)[] = [];
  let renewals = 0;
  const relayView = {
    address: relay as Address | undefined,
    serveService: (s: Address | undefined) => void told.push(s),
    renew: async () => {
      renewals++;
    },
  };
  const intake = new ApiRouteIntake({
    proxy: { update: async (routes) => void sent.push(routes) },
    relay: relayView,
    clusterIPsServed: () => served,
    log: quiet,
  });
  return { intake, sent, told, relayView, renewals: () => renewals };
}

describe('the route intake in front of the service proxy', () => {
  it('hands the proxy the table with the relay in, tells the relay the address, and renews once per new address', async () => {
    const t = intakeWith(true);

    await t.intake.update([web, kubernetes]);
    await t.intake.update([web, kubernetes]);

    expect(t.sent[0]?.[1]?.ports[0]?.endpoints).toEqual([{ ip: '172.18.0.1', port: 7444 }]);
    expect(t.sent[0]?.[0]).toBe(web);
    expect(t.told.at(-1)).toEqual({ host: '10.96.0.1', port: 443 });
    expect(t.intake.clusterIPs).toEqual(['10.96.0.1']);
    expect(t.renewals()).toBe(1);
  });

  it('tells the relay nothing on a node that does not serve cluster IPs (pods keep dialling the relay)', async () => {
    const t = intakeWith(false);
    await t.intake.update([kubernetes]);
    expect(t.told).toEqual([undefined]);
  });

  it('sends the last table again with the relay where it listens now', async () => {
    const t = intakeWith(true);
    t.relayView.address = undefined;
    await t.intake.update([kubernetes]);
    t.relayView.address = { host: '172.19.0.1', port: 7444 };

    await t.intake.refresh();

    expect(t.sent[0]?.[0]?.ports[0]?.endpoints).toEqual([]);
    expect(t.sent[1]?.[0]?.ports[0]?.endpoints).toEqual([{ ip: '172.19.0.1', port: 7444 }]);
  });

  it('forgets the address when the Service is gone, and renews for that too', async () => {
    const t = intakeWith(true);
    await t.intake.update([kubernetes]);
    await t.intake.update([web]);
    expect(t.intake.clusterIPs).toEqual([]);
    expect(t.told.at(-1)).toBeUndefined();
    expect(t.renewals()).toBe(2);
  });
});
