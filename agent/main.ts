/**
 * ferry-agent entry point (bundled to dist/agent.js): wires config, the Docker runtime, the pod
 * manager and the sync loop. SIGTERM/SIGINT stop the agent but leave every container running, so
 * an agent upgrade or restart never restarts a pod; the next agent adopts them.
 */

import { readFileSync } from 'node:fs';
import { Agent } from './agent';
import { AgentApiClient } from './api-client';
import { ApiRelay } from './api-relay';
import { ApiRouteIntake, exceptKubernetes } from './api-route';
import { ConfigError, loadConfig } from './config';
import { HostResolvConf } from './dns/resolv-conf';
import { NodeDnsServer } from './dns/server';
import { IngressServer } from './ingress/ingress-server';
import { createAgentLogger } from './log';
import { UsageCollector } from './metrics/collector';
import { metricsAddress, startMetricsEndpoint } from './metrics-endpoint';
import { nodeResources } from './node-status';
import { serviceEnv } from './pods/env';
import { PodManager } from './pods/manager';
import { PodTokens } from './pods/service-account';
import { ClusterIPRules } from './proxy/cluster-ip-rules';
import { ServiceProxy } from './proxy/service-proxy';
import { RelayCertificates } from './relay-cert';
import { DockerRuntime } from './runtime/docker';

/** How often the relay checks its serving certificate is not near its end (it lives a year). */
const RELAY_RENEW_MS = 12 * 3600_000;

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createAgentLogger(config.logLevel, { node: config.nodeName });
  const runtime = new DockerRuntime({
    socketPath: config.dockerSocket,
    nodeName: config.nodeName,
    ...(config.clusterId ? { clusterId: config.clusterId } : {}),
    nodeIp: config.nodeIp,
    sandboxImage: config.sandboxImage,
  });
  // Cluster IPs: nat rules on the node's pod bridge and for its own processes, once the pod network is known (main.ts findGateway).
  let rules: ClusterIPRules | undefined;
  const proxy = new ServiceProxy({
    log,
    shortcut: (b) => (b.host === config.nodeIp ? pods.podBehind(b.port) : undefined),
    onApplied: async (routes) => rules?.update(routes),
  });
  // Containers reach this node's proxy and DNS server at the gateway of the node's pod network, once known.
  let gateway: string | undefined;
  const client = new AgentApiClient(config.apiUrl, config.token ?? '');
  // Over a plain-HTTP API the relay serves TLS with the node's own certificate (relay-cert.ts).
  const relayCerts = new RelayCertificates({
    stateDir: config.stateDir,
    openssl: 'openssl',
    log,
    domain: config.clusterDomain,
    serviceIPs: () => routes.clusterIPs,
  });
  const relay = new ApiRelay(config.apiUrl, log, (host) => relayCerts.forGateway(host));
  // The `kubernetes` Service's route gets this node's relay as its endpoint on its way to the proxy.
  const routes = new ApiRouteIntake({ proxy, relay, clusterIPsServed: () => rules?.active ?? false, log });
  setInterval(() => void relay.renew().catch(() => undefined), RELAY_RENEW_MS).unref();
  const tokens = new PodTokens({
    stateDir: config.stateDir,
    fetch: (pod, projection) => client.podToken({ pod, ...(projection ? { projection } : {}) }),
    // Read when a token is written, so a rotated CA file reaches pods with their next token; the
    // relay's own CA when it is what pods talk TLS to.
    caCert: () =>
      relay.terminatesTls ? relayCerts.caCert() : config.caFile ? readFileSync(config.caFile, 'utf8') : '',
    now: Date.now,
    log,
  });
  const hostResolv = new HostResolvConf(config.resolvConf);
  // The DNS server reads the proxy's table (read-only) and forwards the rest to the node's own
  // resolvers: loopback ones too, since the agent, not the pod, sends those (resolv.conf(5):
  // none listed means the local host).
  const dns = new NodeDnsServer({
    routes: () => proxy.table,
    domain: config.clusterDomain,
    upstreams: () => {
      const listed = hostResolv.get().nameservers;
      return (listed.length ? listed : ['127.0.0.1']).map((host) => ({ host, port: 53 }));
    },
    log,
  });
  // Read once: the host's cores, memory and disk size do not change under a running agent.
  const allocatable = nodeResources(config);
  const pods = new PodManager(runtime, {
    nodeIp: config.nodeIp,
    stateDir: config.stateDir,
    log,
    backoffBaseMs: config.restartBackoffMs,
    serviceEnv: (namespace) =>
      serviceEnv(exceptKubernetes(proxy.table), namespace, {
        clusterIPs: rules?.active ?? false,
        fallbackHost: gateway ?? config.nodeIp,
      }),
    routesTo: (ip, port) => proxy.routesTo(ip, port),
    withdraw: async (hostPorts) => rules?.withdraw(hostPorts),
    inCluster: { env: () => relay.env(), hostAliases: () => relay.hostAliases(), tokens },
    allocatable: () => allocatable,
    dns: () => ({
      ...(dns.address ? { nodeDns: dns.address.address } : {}),
      domain: config.clusterDomain,
      host: hostResolv.get(),
    }),
  });
  // The built-in ingress listens once the first table arrives; its TLS keys stay in this process' memory.
  const ingress = new IngressServer({
    log,
    address: config.nodeIp,
    httpPort: config.ingressHttpPort,
    httpsPort: config.ingressHttpsPort,
    shortcut: (b) => (b.host === config.nodeIp ? pods.podBehind(b.port) : undefined),
  });
  const agent = new Agent(config, client, pods, log, Date.now, routes, ingress);
  // Capacity given by flag means several nodes share this machine: each reports its own pods' sum.
  const sharedMachine = config.cpu !== undefined || config.memory !== undefined;
  agent.reportUsageFrom(new UsageCollector(runtime, { sharedMachine }));
  await proxy.setAddresses([config.nodeIp]);
  const findGateway = async (): Promise<void> => {
    try {
      const network = await runtime.podNetwork();
      gateway = network.gateway;
      await proxy.setAddresses([config.nodeIp, gateway]);
      await relay.listen(gateway, config.apiRelayPort);
      if (network.bridge && !rules) {
        const candidate = new ClusterIPRules({
          network: network.name,
          nodeIp: config.nodeIp,
          log,
          podBehind: (hostPort) => pods.podBehind(hostPort),
        });
        if (await candidate.start(network.bridge, network.gateway)) {
          rules = candidate;
          await rules.update(proxy.table);
          log.info('cluster IPs served on this node', { chain: rules.chain, bridge: network.bridge });
        }
      }
      await dns.listen(gateway);
      await routes.refresh();
    } catch (err) {
      log.warn('pod network or its DNS server not ready; retrying', { error: String((err as Error).message) });
      setTimeout(() => void findGateway(), 5000).unref();
    }
  };
  await findGateway();
  // Its own metrics, on loopback only (metrics-endpoint.ts says why); a port taken is not fatal.
  if (config.metricsPort !== undefined) {
    await startMetricsEndpoint(
      metricsAddress(config.nodeIp),
      config.metricsPort,
      { podStatuses: () => pods.statuses(), routes: () => proxy.table, clusterIPs: () => rules?.active ?? false },
      log,
    ).catch((err) => log.warn('agent metrics not served', { error: String((err as Error).message) }));
  }
  const stop = async () => {
    log.info('stopping agent; containers keep running', {});
    agent.stop();
    await pods.stop();
    await dns.close();
    // Containers keep running but no proxy answers for them now: the redirects go with it.
    await rules?.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  try {
    await pods.start();
  } catch (err) {
    log.error('container runtime unavailable at start; retrying from the sync loop', {
      error: String((err as Error).message),
    });
  }
  log.info('agent started', { api: config.apiUrl, nodeIp: config.nodeIp });
  await agent.run();
}

main().catch((err) => {
  process.stderr.write(`ferry-agent: ${(err as Error).message}\n`);
  process.exit(1);
});
