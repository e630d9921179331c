/**
 * The kernel half of cluster IPs (kube-proxy's iptables mode, reduced to one redirect per port):
 * a nat chain of this node's own (`FERRY-SVC-<hash of its pod network>`), jumped to from
 * PREROUTING for packets that arrive on the node's pod bridge, REDIRECTs `clusterIP:port` to the
 * node port the service proxy listens on at the bridge's gateway (service-proxy.ts), so a
 * container's connection to a cluster IP lands in the same listener as the node port, with its
 * round-robin, retry and drain. Conntrack turns the replies back into `clusterIP:port`.
 *
 * Several local nodes on one machine (`ferry up`) each have their own bridge and chain, so each
 * node's pods reach their own node's proxy. The chain is replaced whole on every change with
 * `iptables-restore --noflush` (declaring a chain flushes it), so no packet sees half a table.
 * `start` first removes what a killed agent of this node left (the chain's name is the same), and
 * `stop` removes the jump and the chain. Commands run with execFile and an argument list, and the
 * restore input is built only from values checked here (dotted-quad addresses, port numbers), so no
 * value reaches a shell or can add a line of its own.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { ServiceRoute } from '../../schemas/agent-protocol';
import type { AgentLogger } from '../log';

export interface CommandResult {
  code: number;
  stderr: string;
}

/** Runs a program with arguments (and optional stdin), never through a shell. */
export type CommandRunner = (file: string, args: string[], input?: string) => Promise<CommandResult>;

export const execRunner: CommandRunner = (file, args, input) =>
  new Promise((resolve) => {
    const child = execFile(file, args, { timeout: 10_000 }, (err, _stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === 'number'
          ? (err as { code: number }).code
          : 127
        : 0;
      resolve({ code, stderr: String(stderr || (err ? err.message : '')) });
    });
    child.stdin?.on('error', () => {});
    child.stdin?.end(input ?? '');
  });

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const BRIDGE = /^[A-Za-z0-9_.-]{1,15}$/;
const isPort = (n: unknown): n is number => Number.isInteger(n) && (n as number) > 0 && (n as number) < 65536;

/** The chain of the node whose pod network is `network` (unique per machine; 28 characters at most). */
export function chainName(network: string): string {
  return `FERRY-SVC-${createHash('sha256').update(network).digest('hex').slice(0, 12).toUpperCase()}`;
}

/** The `iptables-restore --noflush` input that makes `chain` redirect every cluster IP port to its node port. */
export function renderRules(chain: string, routes: readonly ServiceRoute[]): string {
  const lines = ['*nat', `:${chain} - [0:0]`];
  const seen = new Set<string>();
  for (const route of routes) {
    const ip = route.clusterIP;
    if (ip === undefined || !IPV4.test(ip)) continue;
    for (const port of route.ports) {
      const proto = port.protocol === 'UDP' ? 'udp' : port.protocol === 'TCP' ? 'tcp' : undefined;
      if (!proto || !isPort(port.port) || !isPort(port.nodePort)) continue;
      const key = `${ip}:${port.port}/${proto}`;
      if (seen.has(key)) continue;
      seen.add(key);
      lines.push(
        `-A ${chain} -d ${ip}/32 -p ${proto} -m ${proto} --dport ${port.port} -j REDIRECT --to-ports ${port.nodePort}`,
      );
    }
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

export interface ClusterIPRulesOptions {
  /** The node's pod network name (the chain is named after it). */
  network: string;
  log: AgentLogger;
  run?: CommandRunner;
  iptables?: string;
}

export class ClusterIPRules {
  readonly chain: string;
  private bridge: string | undefined;
  private readonly run: CommandRunner;
  private readonly iptables: string;
  private last = '';
  private serialized: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ClusterIPRulesOptions) {
    this.chain = chainName(options.network);
    this.run = options.run ?? execRunner;
    this.iptables = options.iptables ?? 'iptables';
  }

  /** Whether cluster IPs are served on this node (start succeeded and stop has not run). */
  get active(): boolean {
    return this.bridge !== undefined;
  }

  private ipt(args: string[]): Promise<CommandResult> {
    return this.run(this.iptables, ['-w', '5', '-t', 'nat', ...args]);
  }

  private jump(bridge: string): string[] {
    return ['PREROUTING', '-i', bridge, '-j', this.chain];
  }

  /**
   * Removes what a previous agent of this node left, makes the chain and jumps to it from
   * packets arriving on `bridge`. False (with one log line saying what is needed) when iptables
   * is missing or not permitted: the node then serves node ports only.
   */
  start(bridge: string): Promise<boolean> {
    return this.serial(async () => {
      if (!BRIDGE.test(bridge)) throw new Error(`pod bridge interface name ${JSON.stringify(bridge)} is not one`);
      await this.removeAll(bridge);
      const made = await this.ipt(['-N', this.chain]);
      // First in PREROUTING: before Docker's own DOCKER jump, which never matches a cluster IP anyway.
      const jumped = made.code === 0 ? await this.ipt(['-I', 'PREROUTING', '1', '-i', bridge, '-j', this.chain]) : made;
      if (jumped.code !== 0) {
        this.options.log.warn(
          'cluster IPs are not served on this node: iptables nat rules could not be installed (the agent needs root, or NET_ADMIN and the host network namespace, and the iptables command); Services stay reachable at node ports',
          { error: jumped.stderr.trim().slice(0, 300) },
        );
        await this.removeAll(bridge);
        return false;
      }
      this.bridge = bridge;
      this.last = '';
      return true;
    });
  }

  /** Makes the chain redirect exactly these routes' cluster IP ports (nothing is run when unchanged). */
  update(routes: readonly ServiceRoute[]): Promise<void> {
    return this.serial(async () => {
      if (!this.bridge) return;
      const rules = renderRules(this.chain, routes);
      if (rules === this.last) return;
      const res = await this.run(`${this.iptables}-restore`, ['-w', '5', '--noflush'], rules);
      if (res.code !== 0) {
        this.options.log.error('installing cluster IP rules failed; retrying with the next change', {
          error: res.stderr.trim().slice(0, 300),
        });
        return;
      }
      this.last = rules;
    });
  }

  /** Removes the jump and the chain: cluster IPs stop reaching this node's proxy. */
  stop(): Promise<void> {
    return this.serial(async () => {
      const bridge = this.bridge;
      this.bridge = undefined;
      if (bridge) await this.removeAll(bridge);
    });
  }

  private async removeAll(bridge: string): Promise<void> {
    // -D removes one copy of the jump per call; a crashed start may have left more than one.
    for (let i = 0; i < 10; i++) if ((await this.ipt(['-D', ...this.jump(bridge)])).code !== 0) break;
    await this.ipt(['-F', this.chain]);
    await this.ipt(['-X', this.chain]);
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.serialized.then(task, task);
    this.serialized = next.catch(() => {});
    return next;
  }
}
