/**
 * The node's cluster IP chains (agent/proxy/cluster-ip-rules.ts; the rule text itself is pinned in
 * nat-rules.test.ts): the order of commands, the route_localnet guard in local mode, cleanup of a
 * killed agent's chains, a withdrawn pod out before `withdraw` resolves, pods that start later
 * picked up, and one clear line when iptables cannot be used.
 */
import { describe, expect, it } from 'vitest';
import { ClusterIPRules, type CommandRunner, chainName } from '../../../agent/proxy/cluster-ip-rules';
import { interfaceHolding, subnetOf } from '../../../agent/proxy/host-interfaces';
import type { ServiceRoute } from '../../../schemas/agent-protocol';

const route = (clusterIP: string | undefined, ports: ServiceRoute['ports'], name = 'web'): ServiceRoute => ({
  namespace: 'default',
  name,
  ...(clusterIP !== undefined ? { clusterIP } : {}),
  ports,
});
const tcp = (port: number, nodePort?: number, protocol = 'TCP') => ({
  port,
  ...(nodePort !== undefined ? { nodePort } : {}),
  protocol,
  endpoints: [],
});

function recorder(fail: (file: string, args: string[]) => string | undefined = () => undefined) {
  const calls: { file: string; args: string[]; input?: string }[] = [];
  const run: CommandRunner = async (file, args, input) => {
    calls.push({ file, args, ...(input !== undefined ? { input } : {}) });
    const err = fail(file, args);
    return err ? { code: 1, stderr: err } : { code: 0, stderr: '' };
  };
  return { calls, run };
}
const logs: string[] = [];
const log = {
  debug() {},
  info() {},
  warn: (msg: string) => logs.push(msg),
  error: (msg: string) => logs.push(msg),
} as never;

describe('cluster IP rules', () => {
  it('names a chain per pod network, within iptables limits, the same after a restart', () => {
    expect(chainName('ferry-c1-local-1')).toBe(chainName('ferry-c1-local-1'));
    expect(chainName('ferry-c1-local-1')).not.toBe(chainName('ferry-c1-local-2'));
    expect(chainName('ferry-c1-local-1').length).toBeLessThanOrEqual(28);
  });

  it('removes a previous agent’s chains before making its own, guards route_localnet before turning it on, and undoes it all in reverse on stop', async () => {
    // prepare
    // iptables -D fails when there is no such rule: as on a node where nothing was left behind.
    const { calls, run } = recorder((_f, args) => (args.includes('-D') ? 'Bad rule' : undefined));
    const sysctl: string[] = [];
    const writeSysctl = async (path: string, value: string) => {
      sysctl.push(`${path}=${value}`);
      calls.push({ file: 'sysctl', args: [path, value] });
    };
    const rules = new ClusterIPRules({
      network: 'ferry-local-1',
      nodeIp: '127.0.1.1',
      log,
      run,
      writeSysctl,
      refreshMs: 0,
    });

    // act
    const started = await rules.start('br-0123456789ab', '172.20.0.1');
    await rules.update([route('10.96.0.10', [tcp(80, 30080)])]);
    await rules.update([route('10.96.0.10', [tcp(80, 30080)])]);
    await rules.stop();

    // assess
    const { chain, guard, crossing, crossingNat } = rules;
    const line = (c: { file: string; args: string[] }) => `${c.file} ${c.args.join(' ')}`;
    const localnet = 'sysctl /proc/sys/net/ipv4/conf/br-0123456789ab/route_localnet';
    const cleanup = [
      `iptables -w 5 -t nat -D PREROUTING -i br-0123456789ab -j ${chain}`,
      `iptables -w 5 -t nat -D OUTPUT -j ${chain}`,
      `iptables -w 5 -t nat -F ${chain}`,
      `iptables -w 5 -t nat -X ${chain}`,
      `${localnet} 0`,
      `iptables -w 5 -t filter -D INPUT -i br-0123456789ab -j ${guard}`,
      `iptables -w 5 -t filter -F ${guard}`,
      `iptables -w 5 -t filter -X ${guard}`,
      `iptables -w 5 -t nat -D POSTROUTING -j ${crossingNat}`,
      `iptables -w 5 -t nat -F ${crossingNat}`,
      `iptables -w 5 -t nat -X ${crossingNat}`,
      `iptables -w 5 -t filter -D DOCKER-USER -j ${crossing}`,
      `iptables -w 5 -t filter -D FORWARD -j ${crossing}`,
      `iptables -w 5 -t filter -F ${crossing}`,
      `iptables -w 5 -t filter -X ${crossing}`,
    ];
    expect(started).toBe(true);
    expect(calls.map(line)).toEqual([
      ...cleanup,
      `iptables -w 5 -t nat -N ${chain}`,
      `iptables -w 5 -t nat -I PREROUTING 1 -i br-0123456789ab -j ${chain}`,
      `iptables -w 5 -t nat -I OUTPUT 1 -j ${chain}`,
      'iptables-restore -w 5 --noflush',
      `iptables -w 5 -t filter -I INPUT 1 -i br-0123456789ab -j ${guard}`,
      `${localnet} 1`,
      'iptables-restore -w 5 --noflush',
      `iptables -w 5 -t filter -I DOCKER-USER 1 -j ${crossing}`,
      `iptables -w 5 -t nat -I POSTROUTING 1 -j ${crossingNat}`,
      'iptables-restore -w 5 --noflush',
      ...cleanup,
    ]);
    expect(calls[18]?.input).toContain(
      `-A ${guard} -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
    );
    expect(calls[21]?.input).toBe(`*filter\n:${crossing} - [0:0]\nCOMMIT\n*nat\n:${crossingNat} - [0:0]\nCOMMIT\n`);
    expect(calls[24]?.input).toContain('--dport 80 -j DNAT --to-destination 172.20.0.1:30080');
    expect(rules.active).toBe(false);
  });

  it('finds the interface whose subnet holds a pod IP, never loopback or a host route', () => {
    const ifs = {
      lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', internal: true }],
      'br-bbbbbbbbbbbb': [{ address: '172.21.0.1', netmask: '255.255.0.0', family: 'IPv4', internal: false }],
      wg0: [{ address: '10.9.0.1', netmask: '255.255.255.255', family: 'IPv4', internal: false }],
    } as never;
    expect(interfaceHolding('172.21.3.7', ifs)).toBe('br-bbbbbbbbbbbb');
    expect(interfaceHolding('172.22.0.7', ifs)).toBeUndefined();
    expect(interfaceHolding('127.0.0.5', ifs)).toBeUndefined();
    expect(interfaceHolding('10.9.0.1', ifs)).toBeUndefined();
    expect(interfaceHolding('172.21.0.7 -j ACCEPT', ifs)).toBeUndefined();
    expect(subnetOf('br-bbbbbbbbbbbb', ifs)).toBe('172.21.0.0/16');
    expect(subnetOf('br-missing', ifs)).toBeUndefined();
  });

  it('sends another local node’s pod straight to its IP only once the crossing chain lets it through', async () => {
    // prepare
    const { calls, run } = recorder();
    const rules = new ClusterIPRules({
      network: 'ferry-local-1',
      nodeIp: '127.0.1.1',
      log,
      run,
      writeSysctl: async () => {},
      subnet: '172.20.0.0/16',
      interfaceOf: (ip) =>
        ip.startsWith('172.21.') ? 'br-bbbbbbbbbbbb' : ip.startsWith('172.20.') ? 'br-0123456789ab' : undefined,
      refreshMs: 0,
    });
    const remote = { ip: '127.0.1.2', port: 32500, podIP: '172.21.0.7', podPort: 8080 };
    // A pod IP on this node's own bridge but named for another node is not crossed to.
    const odd = { ip: '127.0.1.3', port: 32600, podIP: '172.20.0.9', podPort: 8080 };

    // act
    await rules.start('br-0123456789ab', '172.20.0.1');
    const before = calls.length;
    await rules.update([route('10.96.0.10', [{ ...tcp(80, 30080), endpoints: [remote, odd] }])]);
    await rules.stop();

    // assess
    const [filter, nat] = calls.slice(before).filter((c) => c.input !== undefined);
    expect(filter?.input).toContain(`-A ${rules.crossing} -i br-0123456789ab -o br-bbbbbbbbbbbb -d 172.21.0.7/32`);
    expect(filter?.input).not.toContain('172.20.0.9');
    // The client pod keeps its own address across (no MASQUERADE to the other bridge's gateway).
    expect(filter?.input).toContain(
      `-A ${rules.crossingNat} -s 172.20.0.0/16 -o br-bbbbbbbbbbbb -m conntrack --ctstate DNAT -j ACCEPT`,
    );
    expect(nat?.input).toContain('-j DNAT --to-destination 172.21.0.7:8080');
    expect(nat?.input).toContain('-j DNAT --to-destination 127.0.1.3:32600');
    expect(calls.at(-1)?.args).toEqual(['-w', '5', '-t', 'filter', '-X', rules.crossing]);
  });

  it('touches neither route_localnet nor the filter table on a node with a routable address', async () => {
    // prepare
    const { calls, run } = recorder();
    const writeSysctl = async () => {
      throw new Error('not expected');
    };
    const rules = new ClusterIPRules({ network: 'ferry-n1', nodeIp: '10.0.0.5', log, run, writeSysctl, refreshMs: 0 });

    // act
    await rules.start('br-0123456789ab', '172.20.0.1');
    await rules.update([route('10.96.0.10', [{ ...tcp(80, 30080), endpoints: [{ ip: '10.0.0.6', port: 32500 }] }])]);
    await rules.stop();

    // assess
    expect(calls.some((c) => c.args.includes('filter'))).toBe(false);
    expect(calls.find((c) => c.input)?.input).toContain('--dport 80 -j DNAT --to-destination 10.0.0.6:32500');
  });

  it('sends other nodes’ pods through the proxy when route_localnet cannot be turned on, and removes the guard', async () => {
    // prepare
    logs.length = 0;
    const { calls, run } = recorder();
    const writeSysctl = async (_p: string, value: string) => {
      if (value === '1') throw new Error('EACCES: permission denied');
    };
    const rules = new ClusterIPRules({
      network: 'ferry-local-1',
      nodeIp: '127.0.1.1',
      log,
      run,
      writeSysctl,
      refreshMs: 0,
    });

    // act
    const started = await rules.start('br-0123456789ab', '172.20.0.1');
    await rules.update([route('10.96.0.10', [{ ...tcp(80, 30080), endpoints: [{ ip: '127.0.1.2', port: 32500 }] }])]);

    // assess
    expect(started).toBe(true);
    expect(logs).toEqual([expect.stringContaining('route_localnet')]);
    expect(calls.some((c) => c.args.join(' ') === `-w 5 -t filter -X ${rules.guard}`)).toBe(true);
    expect(calls.at(-1)?.input).toContain('--dport 80 -j DNAT --to-destination 172.20.0.1:30080');
  });

  it('has a withdrawn pod out of the kernel rules when withdraw resolves, and picks up pods that started later', async () => {
    // prepare
    const { calls, run } = recorder();
    const pods = new Map([[32001, { host: '172.20.0.2', port: 8080 }]]);
    const rules = new ClusterIPRules({
      network: 'ferry-local-1',
      nodeIp: '127.0.1.1',
      log,
      run,
      writeSysctl: async () => {},
      podBehind: (p) => pods.get(p),
      refreshMs: 20,
    });
    const endpoints = [
      { ip: '127.0.1.1', port: 32001 },
      { ip: '127.0.1.1', port: 32002 },
    ];
    await rules.start('br-0123456789ab', '172.20.0.1');
    await rules.update([route('10.96.0.10', [{ ...tcp(80, 30080), endpoints }])]);
    const restored = () => calls.filter((c) => c.file === 'iptables-restore' && c.input?.startsWith('*nat'));

    // act
    pods.set(32002, { host: '172.20.0.3', port: 8080 });
    await new Promise((r) => setTimeout(r, 100));
    const picked = restored().at(-1)?.input;
    await rules.withdraw([32001]);
    const withdrawn = restored().at(-1)?.input;
    await rules.stop();

    // assess
    expect(restored()[0]?.input).toContain('--to-destination 127.0.1.1:32002');
    expect(picked).toContain('--to-destination 172.20.0.3:8080');
    expect(withdrawn).not.toContain('172.20.0.2');
    expect(withdrawn).toContain('-j DNAT --to-destination 172.20.0.3:8080');
  });

  it('says once what is needed when iptables is missing or not permitted, and serves no redirects', async () => {
    // prepare
    logs.length = 0;
    const { calls, run } = recorder((_f, args) =>
      args.includes('-N') ? 'Permission denied (you must be root)' : undefined,
    );
    const rules = new ClusterIPRules({ network: 'ferry-local-1', nodeIp: '127.0.1.1', log, run, refreshMs: 0 });

    // act
    const started = await rules.start('br-0123456789ab', '172.20.0.1');
    await rules.update([route('10.96.0.10', [tcp(80, 30080)])]);

    // assess
    expect(started).toBe(false);
    expect(rules.active).toBe(false);
    expect(logs).toEqual([expect.stringContaining('NET_ADMIN')]);
    expect(calls.some((c) => c.file === 'iptables-restore')).toBe(false);
  });

  it('refuses a bridge name that is not an interface name and a gateway that is not an address', async () => {
    const { calls, run } = recorder();
    const rules = new ClusterIPRules({ network: 'n', nodeIp: '127.0.1.1', log, run, refreshMs: 0 });
    await expect(rules.start('br-1; reboot', '172.20.0.1')).rejects.toThrow(/not one/);
    await expect(rules.start('br-1', '172.20.0.1 -j ACCEPT')).rejects.toThrow(/not an IPv4 address/);
    expect(calls).toEqual([]);
  });
});
