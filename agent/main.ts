/**
 * ferry-agent entry point (bundled to dist/agent.js): wires config, the Docker runtime, the pod
 * manager and the sync loop. SIGTERM/SIGINT stop the agent but leave every container running, so
 * an agent upgrade or restart never restarts a pod; the next agent adopts them.
 */

import { readFileSync } from 'node:fs';
import { Agent } from './agent';
import { AgentApiClient } from './api-client';
import { ApiRelay } from './api-relay';
import { ConfigError, loadConfig } from './config';
import { IngressServer } from './ingress/ingress-server';
import { createAgentLogger } from './log';
import { PodManager } from './pods/manager';
import { PodTokens } from './pods/service-account';
import { ServiceProxy, serviceEnv } from './proxy/service-proxy';
import { DockerRuntime } from './runtime/docker';

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
  const proxy = new ServiceProxy({
    log,
    shortcut: (b) => (b.host === config.nodeIp ? pods.podBehind(b.port) : undefined),
  });
  // Containers reach this node's proxy at the gateway of the node's pod network, once known.
  let gateway: string | undefined;
  const client = new AgentApiClient(config.apiUrl, config.token ?? '');
  const relay = new ApiRelay(config.apiUrl, log);
  const tokens = new PodTokens({
    stateDir: config.stateDir,
    fetch: (pod) => client.podToken({ pod }),
    // Read when a token is written, so a rotated CA file reaches pods with their next token.
    caCert: () => (config.caFile ? readFileSync(config.caFile, 'utf8') : ''),
    now: Date.now,
    log,
  });
  const pods = new PodManager(runtime, {
    nodeIp: config.nodeIp,
    stateDir: config.stateDir,
    log,
    backoffBaseMs: config.restartBackoffMs,
    serviceEnv: (namespace) => serviceEnv(proxy.table, namespace, gateway ?? config.nodeIp),
    routesTo: (ip, port) => proxy.routesTo(ip, port),
    inCluster: { env: () => relay.env(), hostAliases: () => relay.hostAliases(), tokens },
  });
  // The built-in ingress listens once the first table arrives; its TLS keys stay in this process' memory.
  const ingress = new IngressServer({
    log,
    address: config.nodeIp,
    httpPort: config.ingressHttpPort,
    httpsPort: config.ingressHttpsPort,
    shortcut: (b) => (b.host === config.nodeIp ? pods.podBehind(b.port) : undefined),
  });
  const agent = new Agent(config, client, pods, log, Date.now, proxy, ingress);
  await proxy.setAddresses([config.nodeIp]);
  const findGateway = async (): Promise<void> => {
    try {
      gateway = (await runtime.podNetwork()).gateway;
      await proxy.setAddresses([config.nodeIp, gateway]);
      await relay.listen(gateway, config.apiRelayPort);
    } catch (err) {
      log.warn('pod network not ready; retrying', { error: String((err as Error).message) });
      setTimeout(() => void findGateway(), 5000).unref();
    }
  };
  await findGateway();
  const stop = async () => {
    log.info('stopping agent; containers keep running', {});
    agent.stop();
    await pods.stop();
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
