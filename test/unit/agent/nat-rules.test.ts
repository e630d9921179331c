/**
 * The node's cluster IP chain as text (agent/proxy/nat-rules.ts): where each cluster IP port's
 * connections go (this node's pods by pod IP, other nodes' at their address and host port, the
 * proxy for UDP, empty ports and a pod dialing itself), with equal shares per endpoint, a
 * withdrawn pod left out, and hostile route values never turned into rules or lines.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../agent/proxy/forward';
import {
  type NatContext,
  renderCrossingNat,
  renderCrossings,
  renderLoopbackGuard,
  renderNat,
  stillRouted,
} from '../../../agent/proxy/nat-rules';
import type { RoutePort, ServiceRoute } from '../../../schemas/agent-protocol';

const route = (clusterIP: string | undefined, ports: RoutePort[], name = 'web'): ServiceRoute => ({
  namespace: 'default',
  name,
  ...(clusterIP !== undefined ? { clusterIP } : {}),
  ports,
});
const port = (p: number, nodePort: number | undefined, endpoints: RoutePort['endpoints'] = [], protocol = 'TCP') => ({
  port: p,
  ...(nodePort !== undefined ? { nodePort } : {}),
  protocol,
  endpoints,
});
/** This node is 127.0.1.1; host ports 32001 and 32002 of it lead to two pods on its bridge. */
const pods = new Map<number, Backend>([
  [32001, { host: '172.20.0.2', port: 8080 }],
  [32002, { host: '172.20.0.3', port: 8080 }],
]);
const ctx = (over: Partial<NatContext> = {}): NatContext => ({
  nodeIp: '127.0.1.1',
  gateway: '172.20.0.1',
  podBehind: (hostPort) => pods.get(hostPort),
  withdrawn: new Set(),
  loopbackReachable: true,
  ...over,
});
const rulesOf = (text: string) => text.split('\n').filter((l) => l.startsWith('-A'));
const web = (endpoints: RoutePort['endpoints']) => [route('10.96.0.10', [port(80, 30080, endpoints)])];
const spread = [
  { ip: '127.0.1.1', port: 32001 },
  { ip: '127.0.1.2', port: 32500 },
  { ip: '127.0.1.1', port: 32002 },
];

describe('cluster IP nat rules', () => {
  it('send a TCP port to every endpoint with an equal share: this node’s pods by pod IP, other nodes’ at their address and host port', () => {
    // act
    const text = renderNat('FERRY-SVC-X', web(spread), ctx());

    // assess
    const m = '-d 10.96.0.10/32 -p tcp -m tcp --dport 80';
    expect(text).toBe(
      [
        '*nat',
        ':FERRY-SVC-X - [0:0]',
        // A pod dialing its own Service goes through the proxy: the bridge would not hairpin it.
        `-A FERRY-SVC-X -s 172.20.0.2/32 ${m} -j DNAT --to-destination 172.20.0.1:30080`,
        `-A FERRY-SVC-X -s 172.20.0.3/32 ${m} -j DNAT --to-destination 172.20.0.1:30080`,
        `-A FERRY-SVC-X ${m} -m statistic --mode random --probability 0.3333333333 -j DNAT --to-destination 172.20.0.2:8080`,
        `-A FERRY-SVC-X ${m} -m statistic --mode random --probability 0.5000000000 -j DNAT --to-destination 127.0.1.2:32500`,
        `-A FERRY-SVC-X ${m} -j DNAT --to-destination 172.20.0.3:8080`,
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('gives each of n endpoints a 1/n share, for n up to 12', () => {
    for (let n = 1; n <= 12; n++) {
      // prepare
      const endpoints = Array.from({ length: n }, (_, i) => ({ ip: '10.0.0.2', port: 31000 + i }));

      // act
      const rules = rulesOf(renderNat('C', web(endpoints), ctx({ nodeIp: '10.0.0.1' })));

      // assess: the chance a connection reaches rule i is what the rules before it left over.
      let left = 1;
      const shares = rules.map((r) => {
        const p = Number(/--probability (\S+)/.exec(r)?.[1] ?? 1);
        const share = left * p;
        left -= share;
        return share;
      });
      expect(rules).toHaveLength(n);
      for (const s of shares) expect(s).toBeCloseTo(1 / n, 8);
      expect(left).toBeCloseTo(0, 8);
    }
  });

  it('leaves a withdrawn pod of this node out at once, the others keeping equal shares', () => {
    // act
    const rules = rulesOf(renderNat('C', web(spread), ctx({ withdrawn: new Set([32001]) })));

    // assess
    expect(rules.join('\n')).not.toContain('172.20.0.2');
    expect(rules.filter((r) => r.includes('statistic'))).toEqual([
      '-A C -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -m statistic --mode random --probability 0.5000000000 -j DNAT --to-destination 127.0.1.2:32500',
    ]);
    expect(rules.at(-1)).toBe(
      '-A C -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.20.0.3:8080',
    );
  });

  it('sends UDP, a port without ready endpoints and every withdrawn one to the node’s proxy at the gateway', () => {
    // act
    const text = renderNat(
      'C',
      [
        route('10.96.0.11', [port(53, 30053, [{ ip: '127.0.1.2', port: 32600 }], 'UDP'), port(81, 30081)]),
        route('10.96.0.12', [port(80, 30082, [{ ip: '127.0.1.1', port: 32001 }])], 'gone'),
      ],
      ctx({ withdrawn: new Set([32001]) }),
    );

    // assess
    expect(rulesOf(text)).toEqual([
      '-A C -d 10.96.0.11/32 -p udp -m udp --dport 53 -j DNAT --to-destination 172.20.0.1:30053',
      '-A C -d 10.96.0.11/32 -p tcp -m tcp --dport 81 -j DNAT --to-destination 172.20.0.1:30081',
      '-A C -d 10.96.0.12/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.20.0.1:30082',
    ]);
  });

  it('reaches a pod of this node not yet in the pod map at the node address and host port', () => {
    // act
    const rules = rulesOf(renderNat('C', web([{ ip: '127.0.1.1', port: 32999 }]), ctx()));

    // assess
    expect(rules).toEqual(['-A C -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 127.0.1.1:32999']);
  });

  it('sends the whole port through the proxy when the bridge cannot reach the other nodes’ loopback addresses', () => {
    // act
    const rules = rulesOf(renderNat('C', web(spread), ctx({ loopbackReachable: false })));

    // assess
    expect(rules).toEqual(['-A C -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.20.0.1:30080']);
  });

  it('adds nothing for headless, node-port-less, SCTP or duplicate ports', () => {
    // act
    const rules = rulesOf(
      renderNat(
        'C',
        [
          route('None', [port(7000, 30700, spread)], 'peers'),
          route('10.96.0.13', [port(81, undefined, spread), port(9, 30009, spread, 'SCTP')], 'noport'),
          route('10.96.0.14', [port(80, 30084), port(80, 30085)], 'dup'),
        ],
        ctx(),
      ),
    );

    // assess
    expect(rules).toEqual(['-A C -d 10.96.0.14/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.20.0.1:30084']);
  });

  it('never turns a hostile address or port into a rule or a line of its own', () => {
    // prepare
    const evil = '10.0.0.1:80\n-A PREROUTING -j ACCEPT';
    const hostilePods = (hostPort: number): Backend | undefined =>
      hostPort === 32001 ? { host: evil, port: 8080 } : { host: '172.20.0.9', port: 80.5 };

    // act
    const text = renderNat(
      'C',
      [
        route('10.96.0.1/0 -j ACCEPT\n-A PREROUTING', [port(80, 30080, spread)]),
        route('10.96.0.256', [port(80, 30080, spread)]),
        route('10.96.0.12', [
          port(80.5, 30080, spread),
          port(80, 70000, spread),
          { ...port(80, 30080), port: '80 -j DROP' as never },
        ]),
        route('10.96.0.13', [
          port(80, 30090, [
            { ip: evil, port: 1 },
            { ip: '10.0.0.5', port: '1\n-A X' as never },
          ]),
        ]),
        route('10.96.0.14', [
          port(80, 30091, [
            { ip: '127.0.1.1', port: 32001 },
            { ip: '127.0.1.1', port: 32002 },
          ]),
        ]),
      ],
      ctx({ podBehind: hostilePods }),
    );

    // assess: hostile endpoints are skipped; hostile pod addresses fall back to the node address.
    expect(
      text.split('\n').filter((l) => !l.startsWith('-A ') && !['*nat', ':C - [0:0]', 'COMMIT', ''].includes(l)),
    ).toEqual([]);
    expect(rulesOf(text)).toEqual([
      '-A C -d 10.96.0.13/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.20.0.1:30090',
      '-A C -d 10.96.0.14/32 -p tcp -m tcp --dport 80 -m statistic --mode random --probability 0.5000000000 -j DNAT --to-destination 127.0.1.1:32001',
      '-A C -d 10.96.0.14/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 127.0.1.1:32002',
    ]);
    expect(() => renderNat('C', [], ctx({ gateway: '172.20.0.1 -j ACCEPT' }))).toThrow(/not an IPv4 address/);
  });

  it('guards route_localnet: only packets the nat chain sent to 127/8, and their replies, pass the bridge', () => {
    expect(renderLoopbackGuard('FERRY-FW-X')).toBe(
      [
        '*filter',
        ':FERRY-FW-X - [0:0]',
        '-A FERRY-FW-X -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('keeps a withdrawn host port only while the routes still name it at this node', () => {
    // act
    const kept = stillRouted([32001, 32002, 32003], '127.0.1.1', [
      route('10.96.0.10', [port(80, 30080, [...spread, { ip: '127.0.1.2', port: 32003 }])]),
    ]);

    // assess
    expect([...kept]).toEqual([32001, 32002]);
  });
  describe('a pod of another node on this machine (local mode)', () => {
    /** Node 127.0.1.2's bridge is br-bbbbbbbbbbbb (172.21.0.0/16) on this machine too. */
    const bridgeOf = (ip: string) => (ip.startsWith('172.21.') ? 'br-bbbbbbbbbbbb' : undefined);
    const remote = { ip: '127.0.1.2', port: 32500, podIP: '172.21.0.7', podPort: 8080 };
    const m = '-d 10.96.0.10/32 -p tcp -m tcp --dport 80';

    it('is reached straight at its pod IP and container port when its bridge is on this machine', () => {
      expect(rulesOf(renderNat('C', web([remote]), ctx({ bridgeOf })))).toEqual([
        `-A C ${m} -j DNAT --to-destination 172.21.0.7:8080`,
      ]);
    });

    it('stays at its node address and host port when its bridge is not here, or the node is in the cloud', () => {
      expect(rulesOf(renderNat('C', web([remote]), ctx({ bridgeOf: () => undefined })))).toEqual([
        `-A C ${m} -j DNAT --to-destination 127.0.1.2:32500`,
      ]);
      expect(rulesOf(renderNat('C', web([remote]), ctx()))).toEqual([
        `-A C ${m} -j DNAT --to-destination 127.0.1.2:32500`,
      ]);
      // Separate VMs: another node's pod IP may fall inside a subnet of this machine by chance.
      const cloud = { ip: '10.0.0.6', port: 32500, podIP: '172.21.0.7', podPort: 8080 };
      expect(rulesOf(renderNat('C', web([cloud]), ctx({ nodeIp: '10.0.0.5', bridgeOf })))).toEqual([
        `-A C ${m} -j DNAT --to-destination 10.0.0.6:32500`,
      ]);
    });

    it('lets only the DNATed flows to that pod, and their replies, cross from this node’s bridge to its bridge', () => {
      // act
      const { text, bridges } = renderCrossings('XB', 'br-aaaaaaaaaaaa', web([remote]), ctx({ bridgeOf }));

      // assess
      expect(text).toBe(
        [
          '*filter',
          ':XB - [0:0]',
          '-A XB -i br-aaaaaaaaaaaa -o br-bbbbbbbbbbbb -d 172.21.0.7/32 -p tcp -m tcp --dport 8080 -m conntrack --ctstate DNAT -j ACCEPT',
          '-A XB -i br-aaaaaaaaaaaa -o br-bbbbbbbbbbbb -m conntrack --ctstate ESTABLISHED -m conntrack --ctstate DNAT -j ACCEPT',
          '-A XB -i br-bbbbbbbbbbbb -o br-aaaaaaaaaaaa -m conntrack --ctstate RELATED,ESTABLISHED --ctdir REPLY -j ACCEPT',
          'COMMIT',
          '',
        ].join('\n'),
      );
      expect(bridges).toEqual(['br-bbbbbbbbbbbb']);
    });

    it('keeps a drained pod’s open connections crossing after it left the routes, but lets no new one through', () => {
      const { text } = renderCrossings('XB', 'br-aaaaaaaaaaaa', [], ctx({ bridgeOf }), ['br-bbbbbbbbbbbb']);
      expect(rulesOf(text)).toEqual([
        '-A XB -i br-aaaaaaaaaaaa -o br-bbbbbbbbbbbb -m conntrack --ctstate ESTABLISHED -m conntrack --ctstate DNAT -j ACCEPT',
        '-A XB -i br-bbbbbbbbbbbb -o br-aaaaaaaaaaaa -m conntrack --ctstate RELATED,ESTABLISHED --ctdir REPLY -j ACCEPT',
      ]);
    });

    it('keeps the client pod’s address on flows to the crossed bridges, and refuses a hostile subnet', () => {
      expect(rulesOf(renderCrossingNat('XN', '172.20.0.0/16', ['br-bbbbbbbbbbbb', 'br-x -j DROP']))).toEqual([
        '-A XN -s 172.20.0.0/16 -o br-bbbbbbbbbbbb -m conntrack --ctstate DNAT -j ACCEPT',
      ]);
      expect(rulesOf(renderCrossingNat('XN', '0.0.0.0/0', ['br-bbbbbbbbbbbb']))).toEqual([]);
      expect(rulesOf(renderCrossingNat('XN', '172.20.0.0/16 -j ACCEPT', ['br-bbbbbbbbbbbb']))).toEqual([]);
      expect(rulesOf(renderCrossingNat('XN', undefined, ['br-bbbbbbbbbbbb']))).toEqual([]);
    });

    it('refuses hostile pod IPs, ports and interface names: no rule, no line of their own', () => {
      // prepare
      const hostile = [
        { ...remote, podIP: '172.21.0.7/0 -j ACCEPT' },
        { ...remote, port: 32501, podPort: 0 },
        { ...remote, port: 32502, podIP: '172.21.0.8', podPort: '8080 -j ACCEPT' as unknown as number },
      ];
      const evil = ctx({ bridgeOf: () => 'br-x -j ACCEPT' });

      // act
      const nat = rulesOf(renderNat('C', web(hostile), ctx({ bridgeOf })));
      const crossings = renderCrossings('XB', 'br-aaaaaaaaaaaa', web([remote]), evil, ['eth0\n-A INPUT -j ACCEPT']);

      // assess
      expect(nat.every((l) => /--to-destination 127\.0\.1\.2:3250[0-2]$/.test(l))).toBe(true);
      expect(rulesOf(renderNat('C', web([remote]), evil))).toEqual([
        `-A C ${m} -j DNAT --to-destination 127.0.1.2:32500`,
      ]);
      expect(rulesOf(crossings.text)).toEqual([]);
      expect(() => renderCrossings('XB', 'br-a -j ACCEPT', [], ctx())).toThrow(/not one/);
    });
  });
});
