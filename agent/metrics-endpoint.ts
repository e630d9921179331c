/**
 * The agent's own metrics, in Prometheus text on `GET /metrics` at `<address>:<port>` (default
 * 10255, the kubelet's old read-only port; `--metrics-port N|off`). Pods and containers by state,
 * container restarts, probe results, sync latency and errors, and what the service proxy serves.
 *
 * Bound to loopback only, never to an address pods or other machines reach: the agent cannot
 * check a scraper's token without asking the control plane on every scrape, and the counts say
 * what runs on the node. The node address when it is a loopback one (local mode: 127.0.1.N, one
 * per agent on one machine), else 127.0.0.1. A scraper on the node (a Prometheus agent, a
 * node-level collector) reads it; pods cannot (their packets to 127/8 are dropped by the agent's
 * FERRY-FW chain in local mode, and never routed elsewhere).
 *
 * The exposition is written here rather than shared with functions/metrics/families.ts: the
 * agent imports nothing of the control plane (agent/README.md).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServiceRoute } from '../schemas/agent-protocol';
import type { AgentLogger } from './log';
import { agentCounters, SYNC_BUCKETS } from './metrics-endpoint-state';

export interface AgentMetricsSource {
  /** The statuses of the pods the agent runs (`status` objects as it reports them). */
  podStatuses(): Record<string, unknown>[];
  /** The service routes the proxy serves. */
  routes(): readonly ServiceRoute[];
  /** Cluster IPs are served by this node's iptables rules. */
  clusterIPs(): boolean;
}

/** Where the endpoint listens: the node address if it is loopback (local mode), else 127.0.0.1. */
export function metricsAddress(nodeIp: string): string {
  return /^127\./.test(nodeIp) ? nodeIp : '127.0.0.1';
}

export async function startMetricsEndpoint(
  host: string,
  port: number,
  source: AgentMetricsSource,
  log: AgentLogger,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET' }).end('method not allowed\n');
      return;
    }
    const body = renderAgentMetrics(source);
    res
      .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
      .end(req.method === 'HEAD' ? '' : body);
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.maxConnections = 16;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const url = `http://${host}:${bound.port}/metrics`;
  log.info('agent metrics listening', { url });
  return { url, close: () => new Promise((r) => server.close(() => r())) };
}

type Status = {
  phase?: string;
  containerStatuses?: { state?: Record<string, unknown>; restartCount?: number }[];
  initContainerStatuses?: { state?: Record<string, unknown>; restartCount?: number }[];
};

const PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];
const STATES = ['running', 'waiting', 'terminated'];

export function renderAgentMetrics(source: AgentMetricsSource): string {
  const phases = new Map(PHASES.map((p) => [p, 0]));
  const states = new Map(STATES.map((s) => [s, 0]));
  let restarts = 0;
  for (const raw of source.podStatuses()) {
    const s = raw as Status;
    const phase = PHASES.includes(s.phase ?? '') ? (s.phase as string) : 'Unknown';
    phases.set(phase, (phases.get(phase) ?? 0) + 1);
    for (const c of [...(s.containerStatuses ?? []), ...(s.initContainerStatuses ?? [])]) {
      const state = STATES.find((k) => c.state?.[k] !== undefined);
      if (state) states.set(state, (states.get(state) ?? 0) + 1);
      restarts += c.restartCount ?? 0;
    }
  }
  const routes = source.routes();
  let nodePorts = 0;
  let clusterIPPorts = 0;
  let endpoints = 0;
  for (const r of routes) {
    for (const p of r.ports) {
      if (p.nodePort) nodePorts++;
      if (r.clusterIP && r.clusterIP !== 'None') clusterIPPorts++;
      endpoints += p.endpoints.length;
    }
  }
  const out: string[] = [];
  const family = (name: string, type: string, help: string, lines: string[]) =>
    out.push(`# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${lines.join('')}`);
  family(
    'ferry_agent_pods',
    'gauge',
    'Pods this agent runs, by phase.',
    [...phases].map(([p, n]) => `ferry_agent_pods{phase="${p}"} ${n}\n`),
  );
  family(
    'ferry_agent_containers',
    'gauge',
    'Containers of those pods (init containers included), by state.',
    [...states].map(([s, n]) => `ferry_agent_containers{state="${s}"} ${n}\n`),
  );
  family('ferry_agent_container_restarts', 'gauge', "The sum of those containers' restart counts.", [
    `ferry_agent_container_restarts ${restarts}\n`,
  ]);
  const probeLines: string[] = [];
  for (const kind of ['Liveness', 'Readiness', 'Startup'])
    for (const result of ['successful', 'failed'])
      probeLines.push(
        `prober_probe_total{probe_type="${kind}",result="${result}"} ${agentCounters.probes.get(`${kind} ${result}`) ?? 0}\n`,
      );
  family(
    'prober_probe_total',
    'counter',
    'Probes run, by type and result (the kubelet name, without pod labels).',
    probeLines,
  );
  const syncLines: string[] = [];
  for (const mode of ['held', 'quick'] as const) {
    const h = agentCounters.syncs[mode];
    let cumulative = 0;
    for (let i = 0; i <= SYNC_BUCKETS.length; i++) {
      cumulative += h.counts[i] as number;
      const le = i < SYNC_BUCKETS.length ? String(SYNC_BUCKETS[i]) : '+Inf';
      syncLines.push(`ferry_agent_sync_duration_seconds_bucket{mode="${mode}",le="${le}"} ${cumulative}\n`);
    }
    syncLines.push(`ferry_agent_sync_duration_seconds_sum{mode="${mode}"} ${h.sum}\n`);
    syncLines.push(`ferry_agent_sync_duration_seconds_count{mode="${mode}"} ${h.count}\n`);
  }
  family(
    'ferry_agent_sync_duration_seconds',
    'histogram',
    'Syncs with the control plane, by mode (held: the server may hold it open until something changes; quick: answered at once).',
    syncLines,
  );
  family('ferry_agent_sync_errors_total', 'counter', 'Syncs that failed (the control plane unreachable or refusing).', [
    `ferry_agent_sync_errors_total ${agentCounters.syncErrors}\n`,
  ]);
  family('ferry_agent_proxy_services', 'gauge', 'Services in the service proxy table.', [
    `ferry_agent_proxy_services ${routes.length}\n`,
  ]);
  family(
    'ferry_agent_proxy_rules',
    'gauge',
    'What the proxy serves: node ports listened on, cluster IP ports, endpoints.',
    [
      `ferry_agent_proxy_rules{kind="node_port"} ${nodePorts}\n`,
      `ferry_agent_proxy_rules{kind="cluster_ip_port"} ${clusterIPPorts}\n`,
      `ferry_agent_proxy_rules{kind="endpoint"} ${endpoints}\n`,
    ],
  );
  family('ferry_agent_cluster_ips_served', 'gauge', "1 when this node's iptables rules serve cluster IPs, else 0.", [
    `ferry_agent_cluster_ips_served ${source.clusterIPs() ? 1 : 0}\n`,
  ]);
  return out.join('');
}
