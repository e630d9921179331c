/**
 * The local runtime: the whole control plane in one Node process. The API on node:http, the
 * SQLite store, and the controller manager (scheduler + controllers) driven by store change events
 * and a periodic resync. This file and lambda.ts are the only places that read process.env.
 */
import { join } from 'node:path';
import { providerFor } from '../../providers';
import type { CloudProvider } from '../../providers/types';
import { DEFAULT_CLUSTER_DOMAIN, parseClusterDomain } from '../../schemas/cluster-domain';
import { createApiHandler, ensureAdminToken, ensureDefaults } from '../api';
import { cancelDisconnectChecks } from '../api/agent/disconnect';
import { HELD_SYNC } from '../api/agent/modes';
import { syncLagMs } from '../api/agent/sync-lag';
import { StreamSessions } from '../api/exec-sessions';
import { type ApiConfig, type ApiDeps, DEFAULT_MAX_BODY_BYTES } from '../api/types';
import { parseServiceRange, type ServiceRange } from '../cluster-ips';
import { kubernetesServiceRanges } from '../kubernetes-service';
import { createLogger, type Logger, type LogLevel } from '../log';
import { ClusterGauges } from '../metrics/cluster-gauges';
import { createControlPlaneMetrics } from '../metrics/registry';
import { instrumentStore } from '../metrics/store';
import { trackNodeDesired } from '../node-desired';
import { type NodePortRange, parseNodePortRange } from '../node-ports';
import { NO_ENCRYPTION_WARNING, openStore, readEncryptionKeys } from '../store';
import { rewriteSecretsAtStart } from '../store/encrypted';
import type { StateStore } from '../store/types';
import { loadUiFiles } from '../ui/files';
import { withUi } from '../ui/serve';
import { createUpgradeHandler } from './exec-upgrade';
import { startApiServer } from './http-server';
import { VERSION } from './version';

export { startApiServer } from './http-server';

export { VERSION } from './version';

export interface LocalControlPlaneOptions {
  /** Directory of the SQLite file (`ferry.db`); ignored when `store` is given. */
  dataDir: string;
  host?: string;
  port?: number;
  store?: StateStore;
  log?: Logger;
  /** Run the scheduler and controllers in this process (default true). */
  controllers?: boolean;
  /** Controller timing (tests shorten these). */
  nodeGracePeriodMs?: number;
  podEvictionDelayMs?: number;
  resyncMs?: number;
  /** Makes load balancers for LoadBalancer Services (`ferry up`: the local provider). */
  provider?: CloudProvider;
  /** Node ports for Services (default FERRY_NODE_PORT_RANGE, else 30000-32767). */
  nodePortRange?: NodePortRange;
  /** Cluster IPs for Services, or its CIDR text (default FERRY_SERVICE_CLUSTER_IP_RANGE, else 10.96.0.0/16). */
  serviceRange?: ServiceRange | string;
  /** Tags the machines of NodePools (default FERRY_CLUSTER, else "ferry"). */
  cluster?: string;
  /** Where machines of NodePools reach the API (default FERRY_PUBLIC_URL, else this server's URL). */
  publicUrl?: string;
  /** The cluster's DNS domain, given to NodePools' machines (default FERRY_CLUSTER_DOMAIN, else cluster.local). */
  clusterDomain?: string;
  /** PEM certificate and key: serve HTTPS (what kubectl needs to send a token). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * File of keys for Secrets at rest, `name:base64` per line, the first encrypting (default
   * FERRY_ENCRYPTION_KEY_FILE; FERRY_ENCRYPTION_KEYS adds keys inline, before the file's).
   */
  encryptionKeyFile?: string;
}

export interface LocalControlPlane {
  url: string;
  port: number;
  store: StateStore;
  /** Plaintext admin token, only on the very first start of an empty store. */
  adminToken?: string;
  deps: ApiDeps;
  close(): Promise<void>;
}

export async function startLocalControlPlane(options: LocalControlPlaneOptions): Promise<LocalControlPlane> {
  const log = options.log ?? createLogger((process.env.FERRY_LOG_LEVEL as LogLevel | undefined) ?? 'info');
  let opened = options.store;
  if (!opened) {
    const encryptionKeys = readEncryptionKeys({
      inline: process.env.FERRY_ENCRYPTION_KEYS,
      file: options.encryptionKeyFile ?? process.env.FERRY_ENCRYPTION_KEY_FILE,
    });
    // A KMS key works here too (a server on EC2 with an instance role): it seals, the keys decrypt.
    const kmsKey = process.env.FERRY_KMS_KEY_ARN;
    const kms = kmsKey
      ? {
          keyId: kmsKey,
          ...(process.env.AWS_REGION ? { region: process.env.AWS_REGION } : {}),
          ...(process.env.FERRY_KMS_ENDPOINT ? { endpoint: process.env.FERRY_KMS_ENDPOINT } : {}),
        }
      : undefined;
    if (encryptionKeys.length === 0 && !kms) log.warn(NO_ENCRYPTION_WARNING);
    opened = await openStore({
      backend: 'sqlite',
      path: join(options.dataDir, 'ferry.db'),
      encryptionKeys,
      ...(kms ? { kms } : {}),
    });
  }
  // Counted under every other decorator, so /metrics shows what reached the backend.
  const metrics = createControlPlaneMetrics({ counters: true, processMetrics: true });
  // Every writer of this process, and whoever writes through the store it returns, moves the
  // NodeDesired records agents' syncs read (functions/node-desired.ts).
  const store = trackNodeDesired(instrumentStore(opened, metrics.observeStore), Date.now);
  // This process sees every write (but another one's on a shared file: listed again every few minutes).
  const gauges = new ClusterGauges(store, { mode: 'watch' });
  metrics.addGauges(gauges);
  const envRange = process.env.FERRY_NODE_PORT_RANGE;
  const nodePortRange = options.nodePortRange ?? (envRange ? parseNodePortRange(envRange) : undefined);
  // Checked before anything starts: a bad domain would only show on a cloud node that never joins.
  const clusterDomain = parseClusterDomain(
    options.clusterDomain ?? process.env.FERRY_CLUSTER_DOMAIN ?? DEFAULT_CLUSTER_DOMAIN,
  );
  const envIPs = process.env.FERRY_SERVICE_CLUSTER_IP_RANGE;
  const rangeText = typeof options.serviceRange === 'string' ? options.serviceRange : envIPs;
  const serviceRange =
    typeof options.serviceRange === 'object'
      ? options.serviceRange
      : rangeText
        ? parseServiceRange(rangeText)
        : undefined;
  const config: ApiConfig = {
    watch: true,
    // One long-lived process: holding a quiet sync costs nothing, and a dropped one is news.
    agentSync: HELD_SYNC,
    maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
    version: VERSION,
    ...(nodePortRange ? { nodePortRange } : {}),
    ...(serviceRange ? { serviceRange } : {}),
  };
  // One process holds every connection: exec/attach and followed logs wait here for their node.
  const streams = new StreamSessions(Date.now);
  const deps: ApiDeps = { store, clock: Date.now, log, config, metrics, streams };
  const upgrades = createUpgradeHandler({ ...deps, streams });
  // Validators compile on a kind's first write (schemas/validate.ts caches them): compiling all
  // ~40 kinds up front cost about 17 MB of resident code for kinds most clusters never write.
  await ensureDefaults(deps);
  await rewriteSecretsAtStart(store, log);
  const adminToken = await ensureAdminToken(deps);
  // The cluster page at /ui/ (functions/ui/): read once, served from memory.
  const uiFiles = loadUiFiles();
  if (!uiFiles) log.warn('the cluster page is not served: its files (functions/ui/static, dist/ui) were not found');
  const api = createApiHandler(deps);
  const server = await startApiServer({
    handler: uiFiles ? withUi(api, uiFiles) : api,
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 7443,
    maxBodyBytes: config.maxBodyBytes,
    log,
    ...(options.tls ? { tls: options.tls } : {}),
    upgrade: upgrades.handle,
  });
  let stopControllers: (() => Promise<void>) | undefined;
  if (options.controllers ?? true) {
    const { createControllerManager } = await import('../controllers/manager');
    const manager = createControllerManager(deps, {
      ...(options.nodeGracePeriodMs !== undefined ? { nodeGracePeriodMs: options.nodeGracePeriodMs } : {}),
      ...(options.podEvictionDelayMs !== undefined ? { podEvictionDelayMs: options.podEvictionDelayMs } : {}),
      ...(options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {}),
      ...(options.provider ? { provider: options.provider } : {}),
      kubernetesService: kubernetesServiceRanges(config),
      // This process writes its store: the change feed shows every write, so passes keep their lists.
      listCache: true,
      // Heartbeats that arrive late because this process is behind are not the nodes' fault.
      lagProbe: () => syncLagMs(store, deps.clock()),
      nodePools: {
        cluster: options.cluster ?? process.env.FERRY_CLUSTER ?? 'ferry',
        apiUrl: options.publicUrl ?? process.env.FERRY_PUBLIC_URL ?? server.url,
        clusterDomain,
        providerFor: (cloud) => providerFor(cloud, options.provider),
      },
    });
    manager.start();
    stopControllers = () => manager.stop();
  }
  log.info('control plane listening', { url: server.url });
  return {
    url: server.url,
    port: server.port,
    store,
    deps,
    ...(adminToken ? { adminToken } : {}),
    async close() {
      await stopControllers?.();
      upgrades.close();
      await server.close();
      cancelDisconnectChecks(store);
      metrics.close();
      if (!options.store) await store.close();
    },
  };
}
