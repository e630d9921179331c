/**
 * The kernel path of cluster IPs (kube-proxy's iptables mode): a nat chain of this node's own
 * (`FERRY-SVC-<hash of its pod network>`), jumped to from PREROUTING for packets that arrive on
 * the node's pod bridge and from OUTPUT for the node's own processes, DNATs `clusterIP:port`
 * straight to an endpoint (nat-rules.ts says where and why): a pod of this node by its IP, a pod
 * of another node at that node's address and host port. Conntrack turns the replies back into
 * `clusterIP:port`. The chain follows the routing table (`update`, after the proxy's listeners
 * are in place), the pod manager's terminating pods (`withdraw`, awaited before their SIGTERM) and,
 * every `refreshMs`, the pod manager's map of pod IPs (a pod that started since is reached by IP
 * from then on); nothing is run when the text is unchanged.
 *
 * Local mode (`ferry up`: node addresses on 127/8) needs `route_localnet` on the bridge so a DNAT
 * to another node's 127.0.1.N can leave it; before turning it on, a filter chain
 * (`FERRY-FW-<hash>`, from INPUT on the bridge) drops every packet to 127/8 the nat chain did not
 * send there (CVE-2020-8558), and `stop` turns it off before removing the guard.
 *
 * Local mode also reaches another local node's pod straight at its pod IP when the route names it
 * and it is on another bridge of this machine (nat-rules.ts); a filter chain (`FERRY-XB-<hash>`,
 * first in DOCKER-USER, which FORWARD evaluates before Docker's isolation chains) lets exactly
 * those DNATed flows and their replies cross between the bridges, and a nat chain
 * (`FERRY-XN-<hash>`, first in POSTROUTING) keeps Docker's MASQUERADE off them (nat-rules.ts says
 * why). Without the filter chain (no DOCKER-USER and no FORWARD permitted) such endpoints stay at
 * their host ports.
 *
 * Several local nodes on one machine (`ferry up`) each have their own bridge and chains. The nat
 * chain is replaced whole on every change with `iptables-restore --noflush` (declaring a chain
 * flushes it), so no packet sees half a table. `start` first removes what a killed agent of this
 * node left (the chains' names are the same), and `stop` removes the jumps and the chains.
 * Commands run with execFile and an argument list, and the restore input is built only from values
 * checked in nat-rules.ts (dotted-quad addresses, port numbers), so no value reaches a shell or can
 * add a line of its own.
 *
 * Host processes: the OUTPUT jump matches only this cluster's cluster IP ports, so another
 * cluster's traffic on the same machine passes untouched unless both clusters gave the same
 * cluster IP and port to a Service (then the agent whose jump came first answers it).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import type { ServiceRoute } from '../../schemas/agent-protocol';
import type { AgentLogger } from '../log';
import type { Backend } from './forward';
import { interfaceHolding, subnetOf } from './host-interfaces';
import {
  isIPv4,
  isPort,
  type NatContext,
  renderCrossingNat,
  renderCrossings,
  renderLoopbackGuard,
  renderNat,
  stillRouted,
} from './nat-rules';

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

const BRIDGE = /^[A-Za-z0-9_.-]{1,15}$/;

const hashOf = (network: string) => createHash('sha256').update(network).digest('hex').slice(0, 12).toUpperCase();

/** The nat chain of the node whose pod network is `network` (unique per machine; 28 characters at most). */
export function chainName(network: string): string {
  return `FERRY-SVC-${hashOf(network)}`;
}

/** The nat chain keeping the client pod's address on those flows (no MASQUERADE). */
export function crossingNatChainName(network: string): string {
  return `FERRY-XN-${hashOf(network)}`;
}

/** The filter chain letting this node's DNATed flows cross to other bridges of the machine. */
export function crossingChainName(network: string): string {
  return `FERRY-XB-${hashOf(network)}`;
}

/** The filter chain guarding the bridge's route_localnet (CVE-2020-8558). */
export function guardChainName(network: string): string {
  return `FERRY-FW-${hashOf(network)}`;
}

export interface ClusterIPRulesOptions {
  /** The node's pod network name (the chains are named after it). */
  network: string;
  /** This node's address: endpoints at it are its own pods; on 127/8, local mode (route_localnet). */
  nodeIp: string;
  log: AgentLogger;
  /** The pod IP and container port behind a host port of this node (PodManager.podBehind). */
  podBehind?: (hostPort: number) => Backend | undefined;
  run?: CommandRunner;
  iptables?: string;
  /** Writes a /proc/sys file (tests record it instead). */
  writeSysctl?: (path: string, value: string) => Promise<void>;
  /** This node's bridge subnet (tests give it; default: read from the machine's interfaces). */
  subnet?: string;
  /** The interface holding an IP (tests give a table; default: the machine's interfaces). */
  interfaceOf?: (ip: string) => string | undefined;
  /** How often the chain is rendered again for pods that started meanwhile (default 2 s; 0: never). */
  refreshMs?: number;
}

export class ClusterIPRules {
  readonly chain: string;
  readonly guard: string;
  readonly crossing: string;
  readonly crossingNat: string;
  private subnet: string | undefined;
  private crossingOn = false;
  private crossed: string[] = [];
  private lastCrossings = '';
  private bridge: string | undefined;
  private gateway = '';
  private loopbackReachable = false;
  private readonly run: CommandRunner;
  private readonly iptables: string;
  private readonly localMode: boolean;
  private routes: readonly ServiceRoute[] = [];
  private withdrawn = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private last = '';
  private serialized: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ClusterIPRulesOptions) {
    this.chain = chainName(options.network);
    this.guard = guardChainName(options.network);
    this.crossing = crossingChainName(options.network);
    this.crossingNat = crossingNatChainName(options.network);
    this.run = options.run ?? execRunner;
    this.iptables = options.iptables ?? 'iptables';
    this.localMode = options.nodeIp.startsWith('127.');
  }

  /** Whether cluster IPs are served on this node (start succeeded and stop has not run). */
  get active(): boolean {
    return this.bridge !== undefined;
  }

  private ipt(table: 'nat' | 'filter', args: string[]): Promise<CommandResult> {
    return this.run(this.iptables, ['-w', '5', '-t', table, ...args]);
  }

  private restore(input: string): Promise<CommandResult> {
    return this.run(`${this.iptables}-restore`, ['-w', '5', '--noflush'], input);
  }

  private localnet(bridge: string, on: boolean): Promise<void> {
    const write = this.options.writeSysctl ?? ((path, value) => writeFile(path, value));
    return write(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, on ? '1' : '0');
  }

  /**
   * Removes what a previous agent of this node left, makes the chains and jumps to them: nat from
   * packets arriving on `bridge` and from the node's own processes. False (with one log line saying
   * what is needed) when iptables is missing or not permitted: the node then serves node ports only.
   */
  start(bridge: string, gateway: string): Promise<boolean> {
    return this.serial(async () => {
      if (!BRIDGE.test(bridge)) throw new Error(`pod bridge interface name ${JSON.stringify(bridge)} is not one`);
      if (!isIPv4(gateway)) throw new Error(`pod network gateway ${JSON.stringify(gateway)} is not an IPv4 address`);
      await this.removeAll(bridge);
      const made = await this.ipt('nat', ['-N', this.chain]);
      // First in PREROUTING and OUTPUT: before Docker's own DOCKER jumps, which never match a cluster IP anyway.
      const pre = made.code === 0 ? await this.ipt('nat', ['-I', 'PREROUTING', '1', ...this.preJump(bridge)]) : made;
      const out = pre.code === 0 ? await this.ipt('nat', ['-I', 'OUTPUT', '1', '-j', this.chain]) : pre;
      if (out.code !== 0) {
        this.options.log.warn(
          'cluster IPs are not served on this node: iptables nat rules could not be installed (the agent needs root, or NET_ADMIN and the host network namespace, and the iptables command); Services stay reachable at node ports',
          { error: out.stderr.trim().slice(0, 300) },
        );
        await this.removeAll(bridge);
        return false;
      }
      this.loopbackReachable = this.localMode && (await this.guardLoopback(bridge));
      this.crossed = [];
      this.lastCrossings = '';
      this.crossingOn = this.localMode && (await this.openCrossings(bridge));
      this.bridge = bridge;
      this.gateway = gateway;
      this.last = '';
      const every = this.options.refreshMs ?? 2000;
      if (every > 0) this.timer = setInterval(() => void this.update(this.routes), every).unref();
      return true;
    });
  }

  /** The guard first, then route_localnet; false (other nodes' pods then go through the proxy) if either fails. */
  private async guardLoopback(bridge: string): Promise<boolean> {
    const guarded = await this.restore(renderLoopbackGuard(this.guard));
    const jumped =
      guarded.code === 0 ? await this.ipt('filter', ['-I', 'INPUT', '1', ...this.guardJump(bridge)]) : guarded;
    const failed =
      jumped.code !== 0
        ? jumped.stderr.trim()
        : await this.localnet(bridge, true).then(
            () => undefined,
            (err: Error) => err.message,
          );
    if (failed === undefined) return true;
    this.options.log.warn(
      'pods of other nodes are reached through this node’s proxy: route_localnet could not be turned on safely for the pod bridge',
      { error: failed.slice(0, 300) },
    );
    await this.removeGuard(bridge);
    return false;
  }

  /** The crossing chain, empty, first in DOCKER-USER (or FORWARD): false when neither is permitted. */
  private async openCrossings(bridge: string): Promise<boolean> {
    this.subnet = undefined;
    const empty = this.crossingText(bridge, []);
    const made = await this.restore(empty);
    let jumped = made.code === 0 ? await this.ipt('filter', ['-I', 'DOCKER-USER', '1', '-j', this.crossing]) : made;
    if (made.code === 0 && jumped.code !== 0)
      jumped = await this.ipt('filter', ['-I', 'FORWARD', '1', '-j', this.crossing]);
    if (jumped.code === 0) jumped = await this.ipt('nat', ['-I', 'POSTROUTING', '1', '-j', this.crossingNat]);
    if (jumped.code === 0) {
      this.lastCrossings = empty;
      return true;
    }
    this.options.log.warn(
      'pods of other local nodes are reached at their host ports: the filter chain letting cluster IP flows cross between pod bridges could not be installed',
      { error: jumped.stderr.trim().slice(0, 300) },
    );
    await this.removeCrossings();
    return false;
  }

  /** Both crossing chains, filter and nat, as one restore input; and the bridges crossed to. */
  private crossingText(bridge: string, routes: readonly ServiceRoute[]): string {
    // Node lists a bridge's address only while a container is attached (the interface running).
    this.subnet ??= this.options.subnet ?? subnetOf(bridge);
    const { text, bridges } = renderCrossings(this.crossing, bridge, routes, this.context(), this.crossed);
    this.pendingCrossed = bridges;
    return text + renderCrossingNat(this.crossingNat, this.subnet, bridges);
  }

  private pendingCrossed: string[] = [];

  private context(): NatContext {
    const own = this.bridge;
    // The machine's interfaces read once per rendering, not once per endpoint.
    const interfaces = this.crossingOn && !this.options.interfaceOf ? networkInterfaces() : {};
    const interfaceOf = this.options.interfaceOf ?? ((ip: string) => interfaceHolding(ip, interfaces));
    return {
      nodeIp: this.options.nodeIp,
      gateway: this.gateway,
      podBehind: this.options.podBehind ?? (() => undefined),
      withdrawn: this.withdrawn,
      loopbackReachable: this.loopbackReachable,
      ...(this.crossingOn
        ? {
            bridgeOf: (ip: string) => {
              const name = interfaceOf(ip);
              return name && name !== own && name !== 'lo' ? name : undefined;
            },
          }
        : {}),
    };
  }

  /** Makes the chain send exactly these routes' cluster IP ports (nothing is run when unchanged). */
  update(routes: readonly ServiceRoute[]): Promise<void> {
    this.routes = routes;
    return this.serial(() => this.apply());
  }

  /**
   * Takes this node's endpoints at these host ports out of the chain, for good (a terminating
   * pod): resolves once the kernel no longer sends a new connection there. The pod manager awaits
   * it before the pod's SIGTERM.
   */
  withdraw(hostPorts: readonly number[]): Promise<void> {
    for (const p of hostPorts) if (isPort(p)) this.withdrawn.add(p);
    return this.serial(() => this.apply());
  }

  private async apply(): Promise<void> {
    if (!this.bridge) return;
    const nodeIp = this.options.nodeIp;
    // A withdrawn port the routes no longer name is forgotten: Docker may hand it to a new pod later.
    this.withdrawn = stillRouted(this.withdrawn, nodeIp, this.routes);
    const ctx = this.context();
    if (this.crossingOn) {
      // Before the nat chain: a DNAT to another bridge must find its way through already.
      const text = this.crossingText(this.bridge, this.routes);
      const bridges = this.pendingCrossed;
      if (text !== this.lastCrossings) {
        const res = await this.restore(text);
        if (res.code !== 0) {
          this.options.log.error('installing the cluster IP crossing rules failed; retrying with the next change', {
            error: res.stderr.trim().slice(0, 300),
          });
          // Without them a DNAT to another bridge would be dropped: keep those endpoints at their host ports.
          delete ctx.bridgeOf;
        } else {
          this.lastCrossings = text;
          this.crossed = bridges;
        }
      }
    }
    const rules = renderNat(this.chain, this.routes, ctx);
    if (rules === this.last) return;
    const res = await this.restore(rules);
    if (res.code !== 0) {
      this.options.log.error('installing cluster IP rules failed; retrying with the next change', {
        error: res.stderr.trim().slice(0, 300),
      });
      return;
    }
    this.last = rules;
  }

  /** Removes the jumps and the chains: cluster IPs stop reaching this node's pods. */
  stop(): Promise<void> {
    return this.serial(async () => {
      const bridge = this.bridge;
      this.bridge = undefined;
      clearInterval(this.timer);
      if (bridge) await this.removeAll(bridge);
    });
  }

  private preJump(bridge: string): string[] {
    return ['-i', bridge, '-j', this.chain];
  }

  private guardJump(bridge: string): string[] {
    return ['-i', bridge, '-j', this.guard];
  }

  private async removeAll(bridge: string): Promise<void> {
    // -D removes one copy of a jump per call; a crashed start may have left more than one.
    for (let i = 0; i < 10; i++) if ((await this.ipt('nat', ['-D', 'PREROUTING', ...this.preJump(bridge)])).code) break;
    for (let i = 0; i < 10; i++) if ((await this.ipt('nat', ['-D', 'OUTPUT', '-j', this.chain])).code) break;
    await this.ipt('nat', ['-F', this.chain]);
    await this.ipt('nat', ['-X', this.chain]);
    if (this.localMode) {
      await this.removeGuard(bridge);
      await this.removeCrossings();
    }
  }

  private async removeCrossings(): Promise<void> {
    for (let i = 0; i < 10; i++) if ((await this.ipt('nat', ['-D', 'POSTROUTING', '-j', this.crossingNat])).code) break;
    await this.ipt('nat', ['-F', this.crossingNat]);
    await this.ipt('nat', ['-X', this.crossingNat]);
    for (const from of ['DOCKER-USER', 'FORWARD'])
      for (let i = 0; i < 10; i++) if ((await this.ipt('filter', ['-D', from, '-j', this.crossing])).code) break;
    await this.ipt('filter', ['-F', this.crossing]);
    await this.ipt('filter', ['-X', this.crossing]);
  }

  /** route_localnet off first, then the guard: never the one without the other. */
  private async removeGuard(bridge: string): Promise<void> {
    await this.localnet(bridge, false).catch(() => undefined);
    for (let i = 0; i < 10; i++) if ((await this.ipt('filter', ['-D', 'INPUT', ...this.guardJump(bridge)])).code) break;
    await this.ipt('filter', ['-F', this.guard]);
    await this.ipt('filter', ['-X', this.guard]);
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.serialized.then(task, task);
    this.serialized = next.catch(() => {});
    return next;
  }
}
