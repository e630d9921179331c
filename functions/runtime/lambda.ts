/**
 * The Lambda runtime: middy handlers that translate events into the same platform-free cores the
 * local runtime calls. `api`: API Gateway HTTP API (v2) events and Lambda function URL events (the
 * same payload format 2.0: users come through the HTTP API, agents through the URL) go to the API
 * core. `controllers`:
 * schedule events (the periodic resync) and DynamoDB stream events (a store change) each run one
 * leased pass of the controller manager, as a store change or resync does in the local runtime.
 * This file and local.ts are the only places that read process.env.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { providerFor } from '../../providers';
import type { Lease, Node } from '../../schemas';
import { DEFAULT_CLUSTER_DOMAIN, parseClusterDomain } from '../../schemas/cluster-domain';
import { createApiHandler, ensureAdminToken, ensureDefaults } from '../api';
import { POLLED_SYNC } from '../api/agent/modes';
import { statusBody } from '../api/http-errors';
import { type ApiDeps, type ApiHandler, DEFAULT_MAX_BODY_BYTES } from '../api/types';
import { parseServiceRange } from '../cluster-ips';
import { LeaseTick } from '../controllers/lease-tick';
import { type ControllerManagerOptions, createControllerManager } from '../controllers/manager';
import { IGNORED_KINDS, nodeFingerprint, triggersPass } from '../controllers/triggers';
import type { Deps } from '../deps';
import { kubernetesServiceRanges } from '../kubernetes-service';
import { createLogger, type LogLevel } from '../log';
import { ClusterGauges } from '../metrics/cluster-gauges';
import { createControlPlaneMetrics } from '../metrics/registry';
import { trackNodeDesired } from '../node-desired';
import { parseNodePortRange } from '../node-ports';
import { NO_ENCRYPTION_WARNING, openStore, readEncryptionKeys, type StoreConfig } from '../store';
import { objectOf } from '../store/dynamodb-layout';
import { rewriteSecretsAtStart } from '../store/encrypted';
import type { Obj } from '../store/types';
import { VERSION } from './version';

/**
 * Payload format 2.0: an HTTP API event, or a function URL's, which is the same shape (routeKey
 * and stage are `$default`, requestContext names the URL's domain and account `anonymous`, and
 * there is no authorizer with AuthType NONE). What the handler reads (method, rawPath,
 * rawQueryString, headers, cookies, body) is in both.
 */
export function isHttpApiEvent(event: unknown): event is APIGatewayProxyEventV2 {
  return (
    typeof event === 'object' &&
    event !== null &&
    (event as { version?: string }).version === '2.0' &&
    'requestContext' in event &&
    'rawPath' in event
  );
}

/** Translates one payload-2.0 event through `api` (exported for the runtime parity tests). */
export async function handleHttpEvent(
  api: ApiHandler,
  event: APIGatewayProxyEventV2,
  maxBodyBytes: number,
): Promise<APIGatewayProxyStructuredResultV2> {
  const body =
    event.body === undefined ? undefined : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  if (body && body.byteLength > maxBodyBytes) {
    return {
      statusCode: 413,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(
        statusBody(413, 'RequestEntityTooLarge', `request body is larger than the limit of ${maxBodyBytes} bytes`),
      ),
    };
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(event.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = v;
  // Format 2.0 moves Cookie headers into `cookies`: the request goes on as it was sent.
  if (event.cookies?.length) headers.cookie = event.cookies.join('; ');
  let path = event.rawPath;
  try {
    path = decodeURIComponent(event.rawPath);
  } catch {}
  const res = await api({
    method: event.requestContext.http.method,
    path,
    query: new URLSearchParams(event.rawQueryString ?? ''),
    headers,
    ...(body && body.byteLength > 0 ? { body: new Uint8Array(body) } : {}),
  });
  return { statusCode: res.status, headers: res.headers, body: res.body };
}

/** A handler over given deps (tests inject a memory store). */
export function createLambdaHandler(deps: ApiDeps) {
  const api = createApiHandler(deps);
  return middy(async (event: unknown): Promise<APIGatewayProxyStructuredResultV2> => {
    if (isHttpApiEvent(event)) return handleHttpEvent(api, event, deps.config.maxBodyBytes);
    throw new Error('ferry lambda: unsupported event shape');
  });
}

export function isScheduleEvent(event: unknown): boolean {
  return typeof event === 'object' && event !== null && (event as { source?: string }).source === 'aws.events';
}

interface StreamRecord {
  eventSource?: string;
  eventName?: string;
  dynamodb?: {
    Keys?: { pk?: { S?: string }; sk?: { S?: string } };
    NewImage?: Record<string, { S?: string; N?: string }>;
    OldImage?: Record<string, { S?: string; N?: string }>;
  };
}

export function isDynamoStreamEvent(event: unknown): event is { Records: StreamRecord[] } {
  const records = (event as { Records?: StreamRecord[] } | null)?.Records;
  return Array.isArray(records) && records.length > 0 && records.every((r) => r?.eventSource === 'aws:dynamodb');
}

/**
 * Whether one stream record needs a pass, by the same rule as the local watch (controllers/
 * triggers.ts; serverless.yml's filter already drops the ignored kinds). A Node MODIFY that
 * carries both images is compared by fingerprint; a record without images (a KEYS_ONLY stream)
 * counts, since a missed trigger costs correctness and an extra one only a pass.
 */
export function streamRecordTriggers(record: StreamRecord): boolean {
  const pk = record.dynamodb?.Keys?.pk?.S ?? '';
  if (IGNORED_KINDS.has(kindOf(pk)) || pk.startsWith('~')) return false;
  const next = parseBody(record.dynamodb?.NewImage?.body?.S);
  const previous = parseBody(record.dynamodb?.OldImage?.body?.S);
  if (record.eventName !== 'MODIFY' || !next || !previous) return true;
  return triggersPass('MODIFIED', next, nodeFingerprint(previous as Node));
}

/** The kind a partition key holds: sharded kinds' keys end in `#shard` (store/dynamodb-layout.ts). */
function kindOf(pk: string): string {
  return pk.split('#')[0] as string;
}

/**
 * A record of the lease stream (serverless.yml: the Lease partitions only), as the Lease it wrote:
 * the new image, or for a removal the old image or the key (`namespace/name`). Undefined for any
 * other record.
 */
export function leaseOfRecord(record: StreamRecord): { lease: Lease; deleted: boolean } | undefined {
  if (kindOf(record.dynamodb?.Keys?.pk?.S ?? '') !== 'Lease') return undefined;
  const deleted = record.eventName === 'REMOVE';
  // The image's renewal attributes over its body: a renewal writes only those (store/dynamodb.ts).
  const image = imageObject(deleted ? record.dynamodb?.OldImage : record.dynamodb?.NewImage);
  if (image) return { lease: image as Lease, deleted };
  if (!deleted) return undefined; // a write without its image says nothing about the renewal
  const [namespace, name] = (record.dynamodb?.Keys?.sk?.S ?? '').split('/');
  if (!namespace || !name) return undefined;
  return { lease: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { namespace, name } }, deleted };
}

function imageObject(image: Record<string, { S?: string; N?: string }> | undefined): Obj | undefined {
  try {
    return image ? objectOf(image) : undefined;
  } catch {
    return undefined;
  }
}

function parseBody(body: string | undefined): Obj | undefined {
  if (body === undefined) return undefined;
  try {
    return JSON.parse(body) as Obj;
  } catch {
    return undefined;
  }
}

/**
 * The controllers function over given deps, behind the store lease (the deployment also reserves a
 * concurrency of 1; the lease keeps a second copy harmless anyway). A stream event whose records
 * matter runs a full pass (level-triggered: it reads the store, not the records); a schedule event
 * runs the cheap check (the marker and the node Leases), and a full pass only when it is due.
 *
 * Failure detection rides on the heartbeats the syncs write anyway: the lease stream (its own event
 * source in serverless.yml, batched for up to 6 s) hands every node Lease renewal to this
 * function, which notes it and runs the cheap check, now one read of the marker. A node whose last
 * renewal seen is older than the longest gap between live renewals (42 s) has its Lease read, and
 * when its grace (48 s) runs out within the next few seconds the check waits for it (overdue.ts);
 * every lease-stream and scheduled invocation that still watches a node writes the lease tick
 * (lease-tick.ts), so some check comes at least every batch window whatever the nodes do. A node
 * that stops renewing is so NotReady at its grace, 48 s after its last renewal (plus the check's
 * own time), and an idle cluster (no nodes, no renewals, no ticks) pays nothing for it.
 */
export function createControllersHandler(deps: Deps, options: ControllerManagerOptions = {}) {
  // Agents poll here and renew their 48 s Leases every other sync, at most 42 s apart
  // (api/agent/modes.ts): the grace period is the lease duration.
  const manager = createControllerManager(deps, {
    leaseTtlMs: 60_000,
    expectedIntervalMs: 60_000,
    nodeGracePeriodMs: POLLED_SYNC.leaseDurationSeconds * 1000,
    overdueAfterMs: POLLED_SYNC.renewAfterSeconds * 1000,
    ...options,
  });
  const tick = new LeaseTick();
  /** The cheap check, then the tick that makes sure the next one comes (lease-tick.ts). */
  const check = async (): Promise<boolean> => {
    const ran = await manager.runScheduled();
    if (manager.watchesNodes())
      await tick
        .write(deps.store, deps.clock())
        .catch((err) => deps.log.warn('writing the lease tick failed', { error: String(err) }));
    return ran;
  };
  return middy(async (event: unknown): Promise<{ ran: boolean }> => {
    if (isScheduleEvent(event)) return { ran: await check() };
    if (isDynamoStreamEvent(event)) {
      let heartbeats = 0;
      for (const record of event.Records) {
        const seen = leaseOfRecord(record);
        if (!seen) continue;
        manager.noteHeartbeat(seen.lease, seen.deleted);
        heartbeats++;
      }
      const triggering = event.Records.filter(streamRecordTriggers);
      if (triggering.length > 0) {
        // The controllers that act only on some kinds (controllers/due.ts) learn which were written.
        manager.noteWrites(triggering.map((r) => kindOf(r.dynamodb?.Keys?.pk?.S ?? '')));
        return { ran: await manager.runLeased() };
      }
      if (heartbeats > 0) return { ran: await check() };
      return { ran: false };
    }
    throw new Error('ferry lambda controllers: expected a schedule or DynamoDB stream event');
  });
}

/**
 * How long a container trusts a verified token without reading it again. An agent syncs every
 * 20 s with the same token, so the API core's 1 s cache never hits here, and the token read was
 * half of a quiet sync's reads. A revocation (or an RBAC change a pod token's rules follow) made
 * through this container applies at once; one made through another container applies within this
 * bound: a Kubernetes API server caches webhook token reviews for 2 minutes by default.
 */
export const LAMBDA_TOKEN_CACHE_TTL_MS = 60_000;

async function depsFromEnvironment(): Promise<ApiDeps> {
  const env = process.env;
  const config: StoreConfig = { backend: (env.FERRY_STORE as StoreConfig['backend'] | undefined) ?? 'dynamodb' };
  if (env.FERRY_TABLE) config.table = env.FERRY_TABLE;
  if (env.AWS_REGION) config.region = env.AWS_REGION;
  if (env.FERRY_DYNAMODB_ENDPOINT) config.endpoint = env.FERRY_DYNAMODB_ENDPOINT;
  if (env.FERRY_SQLITE_PATH) config.path = env.FERRY_SQLITE_PATH;
  // On AWS the key belongs in KMS (envelope encryption, README "Encryption at rest"): serverless.yml
  // sets FERRY_KMS_KEY_ARN. Operator keys still decrypt what was sealed before the move to KMS.
  config.encryptionKeys = readEncryptionKeys({
    inline: env.FERRY_ENCRYPTION_KEYS,
    file: env.FERRY_ENCRYPTION_KEY_FILE,
  });
  if (env.FERRY_KMS_KEY_ARN) {
    config.kms = {
      keyId: env.FERRY_KMS_KEY_ARN,
      ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}),
      ...(env.FERRY_KMS_ENDPOINT ? { endpoint: env.FERRY_KMS_ENDPOINT } : {}),
    };
  }
  const log = createLogger((env.FERRY_LOG_LEVEL as LogLevel | undefined) ?? 'info');
  if (config.encryptionKeys.length === 0 && !config.kms) log.warn(NO_ENCRYPTION_WARNING);
  // Every writer of this function moves the NodeDesired records agents' syncs read.
  const store = trackNodeDesired(await openStore(config), Date.now);
  // One instance's counters are a random slice of the traffic: /metrics here is the store-derived
  // gauges only, listed at most every 30 s per instance (README "Observing the cluster").
  const metrics = createControlPlaneMetrics({ counters: false });
  metrics.addGauges(new ClusterGauges(store, { mode: 'list' }));
  const deps: ApiDeps = {
    store,
    metrics,
    clock: Date.now,
    log,
    config: {
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      version: VERSION,
      // A held call is billed by the second here and the store's watch sees only this instance's
      // writes: syncs answer at once and tell the agent when to call again.
      agentSync: POLLED_SYNC,
      tokenCacheTtlMs: LAMBDA_TOKEN_CACHE_TTL_MS,
      ...(env.FERRY_NODE_PORT_RANGE ? { nodePortRange: parseNodePortRange(env.FERRY_NODE_PORT_RANGE) } : {}),
      ...(env.FERRY_SERVICE_CLUSTER_IP_RANGE
        ? { serviceRange: parseServiceRange(env.FERRY_SERVICE_CLUSTER_IP_RANGE) }
        : {}),
    },
  };
  // No precompile(): each kind's validator compiles on its first use (schemas/validate.ts), so a
  // cold start pays only for the kinds its first request touches.
  await ensureDefaults(deps);
  return deps;
}

/**
 * One container of the API function: deps are built once, on its first event. Exported so the cost
 * bench can run many containers in one process, as Lambda runs one per concurrent request.
 */
export function createApiFunction(): (event: unknown, context: unknown) => Promise<APIGatewayProxyStructuredResultV2> {
  let cold: Promise<ReturnType<typeof createLambdaHandler>> | undefined;
  return async (event, context) => {
    cold ??= depsFromEnvironment().then(createLambdaHandler);
    const handler = await cold;
    return handler(event, context as never);
  };
}

/** The API function's entry point (one container per module instance). */
export const api = createApiFunction();

/**
 * The bootstrap function's entry point, invoked once by hand after the first deploy
 * (`osls invoke -f bootstrap`): on a store without tokens it issues the first admin token and
 * returns it to the caller only (Lambda logs no return values, and neither does this).
 */
export async function bootstrap(_event: unknown, _context: unknown): Promise<{ adminToken?: string; message: string }> {
  const deps = await depsFromEnvironment();
  const adminToken = await ensureAdminToken(deps);
  return adminToken
    ? { adminToken, message: 'the first admin token: keep it safe, it is not shown again' }
    : { message: 'tokens exist already: no admin token was issued' };
}

/**
 * Where machines' agents reach the API: FERRY_AGENT_URL (the function URL: no HTTP API charge per
 * sync), else FERRY_PUBLIC_URL (the HTTP API). A function URL ends in `/`; agents join absolute
 * paths to it, and the user-data reads better without the slash.
 */
export function agentApiUrl(env: Record<string, string | undefined>): string | undefined {
  const url = env.FERRY_AGENT_URL?.trim() || env.FERRY_PUBLIC_URL?.trim();
  return url ? url.replace(/\/+$/, '') : undefined;
}

/**
 * One container of the controllers function (schedule and DynamoDB stream events): deps are built
 * on its first event. Exported so the cost bench can start a fresh one per measured cluster.
 */
export function createControllersFunction(): (event: unknown, context: unknown) => Promise<{ ran: boolean }> {
  let coldControllers: Promise<ReturnType<typeof createControllersHandler>> | undefined;
  return async (event, context) => {
    coldControllers ??= depsFromEnvironment().then(async (deps) => {
      const env = process.env;
      // NodePools tell machines where their agents sync: the API function's URL (serverless.yml
      // sets FERRY_AGENT_URL), else the HTTP API's.
      const agentUrl = agentApiUrl(env);
      const nodePools = agentUrl
        ? {
            nodePools: {
              cluster: env.FERRY_CLUSTER ?? 'ferry',
              apiUrl: agentUrl,
              clusterDomain: parseClusterDomain(env.FERRY_CLUSTER_DOMAIN ?? DEFAULT_CLUSTER_DOMAIN),
              providerFor,
            },
          }
        : {};
      if (!agentUrl) deps.log.warn('neither FERRY_AGENT_URL nor FERRY_PUBLIC_URL is set: NodePools are not acted on');
      // One function seals Secrets left under an older key (rotation): the controllers, at cold start.
      await rewriteSecretsAtStart(deps.store, deps.log);
      return createControllersHandler(deps, { ...nodePools, kubernetesService: kubernetesServiceRanges(deps.config) });
    });
    const handler = await coldControllers;
    return handler(event, context as never);
  };
}

/** The controllers function's entry point (one container per module instance). */
export const controllers = createControllersFunction();
