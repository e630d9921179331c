/**
 * What the node's cluster IP chain says, as `iptables-restore` text (kube-proxy's iptables mode,
 * flattened into one chain per node): pure functions from the routing table to the rules, so the
 * exact text is what the unit tests pin.
 *
 * For a TCP cluster IP port, one DNAT per ready endpoint, picked with `statistic --mode random`
 * at 1/(n-i) for the i-th of n rules and no match on the last (kube-proxy's weights), so each
 * endpoint gets an equal share whether it runs on this node or another:
 *   - an endpoint on this node goes straight to its pod IP and container port (`podBehind`), the
 *     kernel's whole path, as kube-proxy's KUBE-SEP chains do. A terminating pod of this node is
 *     `withdrawn` by the pod manager before its SIGTERM and left out at once;
 *   - an endpoint on another node goes to that node's address and the host port the routes name,
 *     where the other node's Docker publishes the pod: in the cloud its kernel DNAT (no user-space
 *     hop at all), in local mode (node addresses on 127/8) Docker's userland proxy, reached from the
 *     bridge only with `route_localnet` (`loopbackReachable`; cluster-ip-rules.ts guards it).
 *     Except when that node is on this machine too (local mode: both on 127/8) and the route
 *     names the pod's IP and container port, and that IP is on another bridge of this machine
 *     (`bridgeOf`): then straight to the pod, as for this node's pods, since the userland proxy
 *     behind a loopback host port cost two thirds of the rate. Docker isolates its bridges from
 *     each other, so `renderCrossings` lets exactly these DNATed flows (and their replies) through.
 *
 * Three cases go to the node's own user-space proxy at the bridge gateway and the node port
 * instead: UDP (udp-relay.ts keeps per-client flows and moves one off a refusing endpoint, which a
 * stale conntrack entry would not), a port with no endpoint left (the proxy closes the connection
 * at once rather than let it hang), and a pod dialing its own Service (a bridge does not send a
 * frame back out of the port it came in on, so DNAT to itself would never answer; the proxy
 * dials it from the gateway). A remote endpoint on 127/8 that the bridge cannot reach sends the
 * whole port there too.
 *
 * Every value in the text is a checked dotted quad or port number: a route that fails a check
 * adds no line, so nothing from the API can add a rule or a line of its own.
 */
import type { RoutePort, ServiceRoute } from '../../schemas/agent-protocol';
import type { Backend } from './forward';

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export const isIPv4 = (ip: unknown): ip is string => typeof ip === 'string' && IPV4.test(ip);
export const isPort = (n: unknown): n is number => Number.isInteger(n) && (n as number) > 0 && (n as number) < 65536;
const isLoopback = (ip: string) => ip.startsWith('127.');

export interface NatContext {
  /** This node's address: endpoints at it are this node's pods. */
  nodeIp: string;
  /** The pod bridge's gateway, where this node's proxy listens on every node port. */
  gateway: string;
  /** The pod IP and container port behind a host port of this node (the pod manager's map). */
  podBehind: (hostPort: number) => Backend | undefined;
  /** Host ports of this node's pods that are terminating: never a destination again. */
  withdrawn: ReadonlySet<number>;
  /** Whether packets from the bridge may be sent to 127/8 (route_localnet is on and guarded). */
  loopbackReachable: boolean;
  /**
   * Local mode only: the bridge of this machine (not this node's own) whose subnet holds a pod IP
   * of another node; undefined keeps that endpoint at its node address and host port.
   */
  bridgeOf?: (podIP: string) => string | undefined;
}

/** A DNAT to a pod on another bridge of this machine: what the forward chain must let through. */
interface Target extends Backend {
  via?: string;
}

const BRIDGE = /^[A-Za-z0-9_.-]{1,15}$/;
export const isBridgeName = (name: unknown): name is string => typeof name === 'string' && BRIDGE.test(name);

/** The `iptables-restore --noflush` input that makes `chain` hold exactly these routes' cluster IP ports. */
export function renderNat(chain: string, routes: readonly ServiceRoute[], ctx: NatContext): string {
  if (!isIPv4(ctx.gateway))
    throw new Error(`pod network gateway ${JSON.stringify(ctx.gateway)} is not an IPv4 address`);
  const lines = ['*nat', `:${chain} - [0:0]`];
  const seen = new Set<string>();
  for (const route of routes) {
    const ip = route.clusterIP;
    if (!isIPv4(ip)) continue;
    for (const port of route.ports) {
      const proto = port.protocol === 'UDP' ? 'udp' : port.protocol === 'TCP' ? 'tcp' : undefined;
      if (!proto || !isPort(port.port) || !isPort(port.nodePort)) continue;
      const key = `${ip}:${port.port}/${proto}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const match = `-d ${ip}/32 -p ${proto} -m ${proto} --dport ${port.port}`;
      const proxy = `-j DNAT --to-destination ${ctx.gateway}:${port.nodePort}`;
      const plan = proto === 'tcp' ? destinations(port, ctx) : undefined;
      if (!plan) {
        lines.push(`-A ${chain} ${match} ${proxy}`);
        continue;
      }
      for (const self of plan.selves) lines.push(`-A ${chain} -s ${self}/32 ${match} ${proxy}`);
      plan.targets.forEach((t, i) => {
        const left = plan.targets.length - i;
        const pick = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : '';
        lines.push(`-A ${chain} ${match}${pick} -j DNAT --to-destination ${t.host}:${t.port}`);
      });
    }
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/**
 * Where a TCP port's connections go in the kernel, and this node's pod IPs that must reach it
 * through the proxy; undefined when the whole port goes to the proxy.
 */
function destinations(port: RoutePort, ctx: NatContext): { targets: Target[]; selves: string[] } | undefined {
  const targets: Target[] = [];
  const selves: string[] = [];
  const seen = new Set<string>();
  for (const e of port.endpoints) {
    if (!isIPv4(e.ip) || !isPort(e.port)) continue;
    let target: Target = { host: e.ip, port: e.port };
    const via =
      e.ip !== ctx.nodeIp && isLoopback(e.ip) && isLoopback(ctx.nodeIp) && isIPv4(e.podIP) && isPort(e.podPort)
        ? ctx.bridgeOf?.(e.podIP)
        : undefined;
    if (via !== undefined && isBridgeName(via) && isIPv4(e.podIP) && isPort(e.podPort)) {
      target = { host: e.podIP, port: e.podPort, via };
    } else if (e.ip === ctx.nodeIp) {
      if (ctx.withdrawn.has(e.port)) continue;
      const pod = ctx.podBehind(e.port);
      if (pod && isIPv4(pod.host) && isPort(pod.port)) {
        target = pod;
        if (!selves.includes(pod.host)) selves.push(pod.host);
      }
    }
    if (isLoopback(target.host) && !ctx.loopbackReachable) return undefined;
    const key = `${target.host}:${target.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    targets.push(target);
  }
  return targets.length > 0 ? { targets, selves } : undefined;
}

/**
 * The filter chain (jumped from DOCKER-USER, which Docker evaluates before its isolation chains)
 * that lets this node's pods reach, through the nat chain, pods on other bridges of this machine:
 * per such endpoint, new packets from `bridge` to that pod's IP and port that our DNAT sent there;
 * per bridge in `crossed` (every bridge crossed to since start, so a drained pod's open connections
 * keep working after it left the routes), established DNATed flows and their replies. Nothing
 * else crosses, so other containers stay isolated from each other. Returns the bridges crossed now.
 */
export function renderCrossings(
  chain: string,
  bridge: string,
  routes: readonly ServiceRoute[],
  ctx: NatContext,
  crossed: readonly string[] = [],
): { text: string; bridges: string[] } {
  if (!isBridgeName(bridge)) throw new Error(`pod bridge interface name ${JSON.stringify(bridge)} is not one`);
  const pods: string[] = [];
  const bridges = new Set(crossed.filter((b) => isBridgeName(b) && b !== bridge));
  for (const route of routes) {
    if (!isIPv4(route.clusterIP)) continue;
    for (const port of route.ports) {
      if (port.protocol !== 'TCP' || !isPort(port.port) || !isPort(port.nodePort)) continue;
      for (const t of destinations(port, ctx)?.targets ?? []) {
        if (!t.via || t.via === bridge) continue;
        bridges.add(t.via);
        const line = `-A ${chain} -i ${bridge} -o ${t.via} -d ${t.host}/32 -p tcp -m tcp --dport ${t.port} -m conntrack --ctstate DNAT -j ACCEPT`;
        if (!pods.includes(line)) pods.push(line);
      }
    }
  }
  const lines = ['*filter', `:${chain} - [0:0]`, ...pods];
  for (const via of [...bridges].sort()) {
    lines.push(
      `-A ${chain} -i ${bridge} -o ${via} -m conntrack --ctstate ESTABLISHED -m conntrack --ctstate DNAT -j ACCEPT`,
      `-A ${chain} -i ${via} -o ${bridge} -m conntrack --ctstate RELATED,ESTABLISHED --ctdir REPLY -j ACCEPT`,
    );
  }
  lines.push('COMMIT', '');
  return { text: lines.join('\n'), bridges: [...bridges].sort() };
}

/**
 * The nat chain (first in POSTROUTING) that keeps the client pod's own address on those crossing
 * flows: without it Docker's MASQUERADE rule (`-s <subnet> ! -o <bridge>`) rewrites it to the other
 * bridge's gateway, where it meets the host's own connections to the pod (docker-proxy, the node
 * port proxy) and, likely, their TIME_WAIT sockets with other TCP timestamps (the bench's
 * cross-node rate went from 0.36 to 0.74-0.98 of direct with this chain). As in
 * kube-proxy, pod to pod is not masqueraded. `subnet` is this node's bridge subnet (CIDR).
 */
export function renderCrossingNat(chain: string, subnet: string | undefined, bridges: readonly string[]): string {
  const lines = ['*nat', `:${chain} - [0:0]`];
  const [net, bits] = (subnet ?? '').split('/');
  const len = Number(bits);
  if (isIPv4(net) && Number.isInteger(len) && len >= 8 && len <= 30)
    for (const via of bridges.filter(isBridgeName))
      lines.push(`-A ${chain} -s ${net}/${len} -o ${via} -m conntrack --ctstate DNAT -j ACCEPT`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/**
 * The filter rules that make `route_localnet` safe on the bridge (CVE-2020-8558): with it on, a
 * pod could otherwise reach services bound to the host's loopback. Only packets the nat chain sent
 * there (conntrack state DNAT), and their replies, pass; kube-proxy's KUBE-FIREWALL rule.
 */
export function renderLoopbackGuard(chain: string): string {
  return [
    '*filter',
    `:${chain} - [0:0]`,
    `-A ${chain} -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
    'COMMIT',
    '',
  ].join('\n');
}

/** Host ports in `withdrawn` that the routes still send to at `nodeIp` (the rest can be forgotten). */
export function stillRouted(withdrawn: Iterable<number>, nodeIp: string, routes: readonly ServiceRoute[]): Set<number> {
  const routed = new Set<number>();
  for (const r of routes) for (const p of r.ports) for (const e of p.endpoints) if (e.ip === nodeIp) routed.add(e.port);
  return new Set([...withdrawn].filter((p) => routed.has(p)));
}
