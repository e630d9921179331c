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
 * The exposition is schemas/prom-text.ts, the control plane's too (the agent imports nothing of
 * the control plane, so it is on the ground floor both stand on).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServiceRoute } from '../schemas/agent-protocol';
import { gaugeText } from '../schemas/prom-text';
import type { AgentLogger } from './log';
import { agentFamilies } from './metrics-endpoint-state';

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
  return [
    gaugeText('ferry_agent_pods', 'Pods this agent runs, by phase.', phases, 'phase'),
    gaugeText(
      'ferry_agent_containers',
      'Containers of those pods (init containers included), by state.',
      states,
      'state',
    ),
    gaugeText('ferry_agent_container_restarts', "The sum of those containers' restart counts.", [['', restarts]]),
    agentFamilies.probes.render(),
    agentFamilies.syncs.render(),
    agentFamilies.syncErrors.render(),
    gaugeText('ferry_agent_proxy_services', 'Services in the service proxy table.', [['', routes.length]]),
    gaugeText(
      'ferry_agent_proxy_rules',
      'What the proxy serves: node ports listened on, cluster IP ports, endpoints.',
      [
        ['node_port', nodePorts],
        ['cluster_ip_port', clusterIPPorts],
        ['endpoint', endpoints],
      ],
      'kind',
    ),
    gaugeText('ferry_agent_cluster_ips_served', "1 when this node's iptables rules serve cluster IPs, else 0.", [
      ['', source.clusterIPs() ? 1 : 0],
    ]),
  ].join('');
}
