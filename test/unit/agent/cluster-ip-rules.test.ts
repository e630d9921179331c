/**
 * The node's cluster IP redirects (agent/proxy/cluster-ip-rules.ts): what they redirect, that
 * hostile values never become rules, the order of commands, cleanup of a killed agent's chain, and
 * one clear line when iptables cannot be used.
 */
import { describe, expect, it } from 'vitest';
import { ClusterIPRules, type CommandRunner, chainName, renderRules } from '../../../agent/proxy/cluster-ip-rules';
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
  it('redirect each TCP and UDP cluster IP port to its node port, and nothing for headless or port-less ones', () => {
    // act
    const text = renderRules('FERRY-SVC-X', [
      route('10.96.0.10', [tcp(80, 30080), tcp(53, 30053, 'UDP'), tcp(9, 30009, 'SCTP')]),
      route('None', [tcp(7000, 30700)], 'peers'),
      route('10.96.0.11', [tcp(81)], 'noport'),
    ]);

    // assess
    expect(text).toBe(
      [
        '*nat',
        ':FERRY-SVC-X - [0:0]',
        '-A FERRY-SVC-X -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 30080',
        '-A FERRY-SVC-X -d 10.96.0.10/32 -p udp -m udp --dport 53 -j REDIRECT --to-ports 30053',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('never turns a hostile address or port into a rule or a line of its own', () => {
    // act
    const text = renderRules('FERRY-SVC-X', [
      route('10.96.0.1/0 -j ACCEPT\n-A PREROUTING', [tcp(80, 30080)]),
      route('10.96.0.256', [tcp(80, 30080)]),
      route('10.96.0.12', [tcp(80.5, 30080), tcp(80, 70000), { ...tcp(80, 30080), port: '80 -j DROP' as never }]),
    ]);

    // assess
    expect(text.split('\n').filter((l) => l.startsWith('-A'))).toEqual([]);
  });

  it('names a chain per pod network, within iptables limits, the same after a restart', () => {
    expect(chainName('ferry-c1-local-1')).toBe(chainName('ferry-c1-local-1'));
    expect(chainName('ferry-c1-local-1')).not.toBe(chainName('ferry-c1-local-2'));
    expect(chainName('ferry-c1-local-1').length).toBeLessThanOrEqual(28);
  });

  it('removes a previous agent’s chain before making its own, jumps from the bridge, and removes both on stop', async () => {
    // prepare
    // iptables -D fails when there is no such rule: as on a node where nothing was left behind.
    const { calls, run } = recorder((_f, args) => (args.includes('-D') ? 'Bad rule' : undefined));
    const rules = new ClusterIPRules({ network: 'ferry-local-1', log, run });

    // act
    const started = await rules.start('br-0123456789ab');
    await rules.update([route('10.96.0.10', [tcp(80, 30080)])]);
    await rules.update([route('10.96.0.10', [tcp(80, 30080)])]);
    await rules.stop();

    // assess
    const chain = rules.chain;
    const line = (c: { file: string; args: string[] }) => `${c.file} ${c.args.join(' ')}`;
    expect(started).toBe(true);
    expect(calls.map(line)).toEqual([
      `iptables -w 5 -t nat -D PREROUTING -i br-0123456789ab -j ${chain}`,
      expect.stringContaining(`-F ${chain}`),
      expect.stringContaining(`-X ${chain}`),
      `iptables -w 5 -t nat -N ${chain}`,
      `iptables -w 5 -t nat -I PREROUTING 1 -i br-0123456789ab -j ${chain}`,
      'iptables-restore -w 5 --noflush',
      `iptables -w 5 -t nat -D PREROUTING -i br-0123456789ab -j ${chain}`,
      expect.stringContaining(`-F ${chain}`),
      expect.stringContaining(`-X ${chain}`),
    ]);
    expect(calls[5]?.input).toContain('--dport 80 -j REDIRECT --to-ports 30080');
    expect(rules.active).toBe(false);
  });

  it('says once what is needed when iptables is missing or not permitted, and serves no redirects', async () => {
    // prepare
    logs.length = 0;
    const { calls, run } = recorder((_f, args) =>
      args.includes('-N') ? 'Permission denied (you must be root)' : undefined,
    );
    const rules = new ClusterIPRules({ network: 'ferry-local-1', log, run });

    // act
    const started = await rules.start('br-0123456789ab');
    await rules.update([route('10.96.0.10', [tcp(80, 30080)])]);

    // assess
    expect(started).toBe(false);
    expect(rules.active).toBe(false);
    expect(logs).toEqual([expect.stringContaining('NET_ADMIN')]);
    expect(calls.some((c) => c.file === 'iptables-restore')).toBe(false);
  });

  it('refuses a bridge name that is not an interface name', async () => {
    const { calls, run } = recorder();
    const rules = new ClusterIPRules({ network: 'n', log, run });
    await expect(rules.start('br-1; reboot')).rejects.toThrow(/not one/);
    expect(calls).toEqual([]);
  });
});
