/**
 * Agent configuration from flags, then environment, then defaults. This file and main.ts are the
 * only agent code that reads process.argv/env.
 */
import { hostname, networkInterfaces } from 'node:os';
import { parseArgs } from 'node:util';

export interface AgentConfig {
  apiUrl: string;
  /** A bootstrap token (to register) or a node token (kept in the state dir after registering). */
  token?: string;
  nodeName: string;
  /**
   * The cluster this node belongs to, on every container and network it makes, so two clusters
   * on one machine (two `ferry up` data dirs) never adopt, sweep or remove each other's.
   */
  clusterId?: string;
  nodeIp: string;
  labels: Record<string, string>;
  dockerSocket: string;
  stateDir: string;
  /** Image of the container that owns each pod's network namespace. */
  sandboxImage: string;
  /** Override the reported capacity (several local nodes share one machine). */
  cpu?: string;
  memory?: string;
  maxPods: number;
  /** How long the server may hold a sync open when nothing changed. */
  syncWaitSeconds: number;
  /** First container restart back-off (Kubernetes: 10 s); lowered by tests. */
  restartBackoffMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Where pods reach the API (api-relay.ts): this port on the pod network's gateway. */
  apiRelayPort: number;
  /** The CA that verifies the API, mounted into pods as `ca.crt` (default: NODE_EXTRA_CA_CERTS). */
  caFile?: string;
  /** The built-in ingress' ports on the node address (agent/ingress/); undefined: off. */
  ingressHttpPort: number | undefined;
  ingressHttpsPort: number | undefined;
  /** The cluster's DNS domain (the kubelet's --cluster-domain): what the node DNS serves and pods search. */
  clusterDomain: string;
  /** The node's own resolver config (the kubelet's --resolv-conf): DNS forwards to it, Default pods get it. */
  resolvConf: string;
  /** The agent's /metrics on loopback (metrics-endpoint.ts); undefined: off. */
  metricsPort: number | undefined;
}

const USAGE = `usage: ferry-agent --api-url URL [--token TOKEN] [--node-name NAME] [--cluster-id ID] [--node-ip IP]
  [--labels k=v,...] [--docker-socket PATH] [--state-dir DIR] [--sandbox-image IMAGE]
  [--cpu N] [--memory QUANTITY] [--max-pods N] [--sync-wait SECONDS] [--api-relay-port N] [--ca-file PEM]
  [--ingress-http-port N|off] [--ingress-https-port N|off] [--cluster-domain DOMAIN] [--resolv-conf PATH]
  [--metrics-port N|off]
Environment: FERRY_API_URL, FERRY_TOKEN, FERRY_NODE_NAME, FERRY_CLUSTER_ID, FERRY_NODE_IP, FERRY_NODE_LABELS,
  DOCKER_SOCKET, FERRY_STATE_DIR, FERRY_SANDBOX_IMAGE, FERRY_NODE_CPU, FERRY_NODE_MEMORY, FERRY_API_RELAY_PORT,
  FERRY_CA_FILE (else NODE_EXTRA_CA_CERTS), FERRY_INGRESS_HTTP_PORT, FERRY_INGRESS_HTTPS_PORT,
  FERRY_CLUSTER_DOMAIN (default cluster.local), FERRY_RESOLV_CONF (default /etc/resolv.conf),
  FERRY_METRICS_PORT (default 10255, on loopback).`;

export class ConfigError extends Error {}

/** A DNS subdomain (DNS-1123), at least one label. */
const DOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): AgentConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      'api-url': { type: 'string' },
      token: { type: 'string' },
      'node-name': { type: 'string' },
      'cluster-id': { type: 'string' },
      'node-ip': { type: 'string' },
      labels: { type: 'string' },
      'docker-socket': { type: 'string' },
      'state-dir': { type: 'string' },
      'sandbox-image': { type: 'string' },
      cpu: { type: 'string' },
      memory: { type: 'string' },
      'max-pods': { type: 'string' },
      'sync-wait': { type: 'string' },
      'log-level': { type: 'string' },
      'api-relay-port': { type: 'string' },
      'ca-file': { type: 'string' },
      'ingress-http-port': { type: 'string' },
      'ingress-https-port': { type: 'string' },
      'cluster-domain': { type: 'string' },
      'resolv-conf': { type: 'string' },
      'metrics-port': { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) throw new ConfigError(USAGE);
  const apiUrl = values['api-url'] ?? env.FERRY_API_URL;
  if (!apiUrl) throw new ConfigError(`--api-url (or FERRY_API_URL) is required\n${USAGE}`);
  const nodeName = (values['node-name'] ?? env.FERRY_NODE_NAME ?? hostname()).toLowerCase();
  const config: AgentConfig = {
    apiUrl,
    nodeName,
    nodeIp: values['node-ip'] ?? env.FERRY_NODE_IP ?? defaultNodeIp(),
    labels: parseLabels(values.labels ?? env.FERRY_NODE_LABELS ?? ''),
    dockerSocket: values['docker-socket'] ?? env.DOCKER_SOCKET ?? '/var/run/docker.sock',
    stateDir: values['state-dir'] ?? env.FERRY_STATE_DIR ?? '/var/lib/ferry-agent',
    sandboxImage: values['sandbox-image'] ?? env.FERRY_SANDBOX_IMAGE ?? 'registry.k8s.io/pause:3.10',
    maxPods: Number(values['max-pods'] ?? 110),
    syncWaitSeconds: Number(values['sync-wait'] ?? 5),
    restartBackoffMs: Number(env.FERRY_RESTART_BACKOFF_MS ?? 10_000),
    logLevel: (values['log-level'] ?? env.FERRY_LOG_LEVEL ?? 'info') as AgentConfig['logLevel'],
    apiRelayPort: Number(values['api-relay-port'] ?? env.FERRY_API_RELAY_PORT ?? 6443),
    ingressHttpPort: portOrOff('--ingress-http-port', values['ingress-http-port'] ?? env.FERRY_INGRESS_HTTP_PORT, 80),
    ingressHttpsPort: portOrOff(
      '--ingress-https-port',
      values['ingress-https-port'] ?? env.FERRY_INGRESS_HTTPS_PORT,
      443,
    ),
    clusterDomain: (values['cluster-domain'] ?? env.FERRY_CLUSTER_DOMAIN ?? 'cluster.local')
      .toLowerCase()
      .replace(/\.$/, ''),
    resolvConf: values['resolv-conf'] ?? env.FERRY_RESOLV_CONF ?? '/etc/resolv.conf',
    metricsPort: portOrOff('--metrics-port', values['metrics-port'] ?? env.FERRY_METRICS_PORT, 10255),
  };
  const caFile = values['ca-file'] ?? env.FERRY_CA_FILE ?? env.NODE_EXTRA_CA_CERTS;
  if (caFile) config.caFile = caFile;
  if (!Number.isInteger(config.apiRelayPort) || config.apiRelayPort < 1 || config.apiRelayPort > 65535)
    throw new ConfigError('--api-relay-port must be a port number (1-65535)');
  if (config.clusterDomain.length > 200 || !DOMAIN.test(config.clusterDomain))
    throw new ConfigError(`--cluster-domain "${config.clusterDomain}" must be a DNS domain such as cluster.local`);
  const clusterId = values['cluster-id'] ?? env.FERRY_CLUSTER_ID;
  if (clusterId !== undefined) {
    if (!/^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/.test(clusterId))
      throw new ConfigError(`--cluster-id "${clusterId}" must be 1-32 lower-case letters, digits or '-'`);
    config.clusterId = clusterId;
  }
  const token = values.token ?? env.FERRY_TOKEN;
  if (token) config.token = token;
  const cpu = values.cpu ?? env.FERRY_NODE_CPU;
  if (cpu) config.cpu = cpu;
  const memory = values.memory ?? env.FERRY_NODE_MEMORY;
  if (memory) config.memory = memory;
  if (!Number.isInteger(config.maxPods) || config.maxPods < 1)
    throw new ConfigError('--max-pods must be a positive integer');
  if (!(config.syncWaitSeconds >= 0 && config.syncWaitSeconds <= 60))
    throw new ConfigError('--sync-wait must be 0..60');
  return config;
}

/** A port 1-65535, or `off`; the control plane's load balancer expects 80 and 443 (README: Ingress). */
function portOrOff(flag: string, raw: string | undefined, dflt: number): number | undefined {
  if (raw === undefined || raw === '') return dflt;
  if (raw === 'off') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError(`${flag} must be 1..65535 or off`);
  return n;
}

function parseLabels(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of raw.split(',').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--labels: expected key=value, got ${JSON.stringify(pair)}`);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

function defaultNodeIp(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
