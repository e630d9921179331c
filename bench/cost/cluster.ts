/**
 * One measured cluster for the cost bench: a fresh table on the shared dynalite, the metering
 * proxy, the API function behind the HTTP API and its function URL (a container per concurrent
 * request; agents on the door serverless.yml gives them, the admin on the HTTP API) and the
 * controllers function on its schedule and stream, all built from functions/runtime/lambda.ts's
 * own entry points and serverless.yml. `snapshot()` reads every counter, so a window's cost is
 * the difference of two snapshots.
 */

import { bootstrap, createApiFunction, createControllersFunction } from '../../functions/runtime/lambda';
import { DynamoStore, tableDefinition } from '../../functions/store/dynamodb';
import type { StateStore } from '../../functions/store/types';
import { AdminClient } from '../lib/workload';
import { ControllersFunction, diffTrigger, type TriggerStats } from './controllers-function';
import type { Deployment } from './deployment';
import { copyStats, DynamoMeter, diffStats, type MeterStats } from './dynamo-meter';
import { diffInvocations, HttpApi, type InvocationStats } from './http-api';

const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** Runs `call` with these environment variables set: lambda.ts reads them synchronously at a cold start. */
function withEnv<T>(vars: Record<string, string>, call: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return call();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

export interface Snapshot {
  at: number;
  api: MeterStats;
  http: InvocationStats;
  schedule: TriggerStats;
  stream: TriggerStats;
  /** Every DynamoDB command of the controllers function, whichever invocation made it. */
  controllers: MeterStats;
  containers: number;
}

export interface Window {
  minutes: number;
  api: MeterStats;
  http: InvocationStats;
  schedule: TriggerStats;
  stream: TriggerStats;
  syncs: number;
}

export class Cluster {
  readonly http: HttpApi;
  readonly controllers: ControllersFunction;
  admin!: AdminClient;
  bootstrapToken = '';
  /** Reads the table directly (not through the meter): the bench's own observation is free. */
  observer!: StateStore;

  private constructor(
    private readonly meter: DynamoMeter,
    private readonly apiTap: { url: string; stats: MeterStats },
    private readonly env: (endpoint: string) => Record<string, string>,
    private readonly ctlTap: { url: string; stats: MeterStats },
    private readonly deployment: Deployment,
  ) {
    this.http = new HttpApi(() => {
      const fn = createApiFunction();
      return (event, context) => withEnv(this.env(this.apiTap.url), () => fn(event, context));
    });
    const ctl = createControllersFunction();
    this.controllers = new ControllersFunction(
      (event, context) => withEnv(this.env(ctlTap.url), () => ctl(event, context)),
      ctlTap.stats,
      () => meter.settled(),
      deployment.streams,
      deployment.controllers.timeoutSeconds * 1000,
    );
    meter.onStreamRecord((r) => this.controllers.record(r));
  }

  static async start(dynalite: string, table: string, deployment: Deployment): Promise<Cluster> {
    const direct = { table, client: { endpoint: dynalite, region: 'local', credentials: CREDENTIALS } };
    await DynamoStore.ensureTable(direct);
    const def = tableDefinition(table);
    const meter = new DynamoMeter(dynalite, {
      keyAttrs: (def.KeySchema ?? []).map((k) => k.AttributeName as string),
      indexes: (def.GlobalSecondaryIndexes ?? []).map((g) => (g.KeySchema ?? []).map((k) => k.AttributeName as string)),
      streamViewType: deployment.streamViewType,
    });
    // The SDK resolves credentials lazily (on the first command), so they are set for the process;
    // the endpoint and table are read at each container's cold start, so they are set per call.
    Object.assign(process.env, {
      AWS_REGION: 'local',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      FERRY_LOG_LEVEL: 'error',
    });
    const env = (endpoint: string) => ({
      FERRY_STORE: 'dynamodb',
      FERRY_TABLE: table,
      FERRY_DYNAMODB_ENDPOINT: endpoint,
    });
    const setupTap = await meter.tap();
    const apiTap = await meter.tap();
    const ctlTap = await meter.tap();
    const cluster = new Cluster(meter, apiTap, env, ctlTap, deployment);
    cluster.observer = await DynamoStore.open(direct);
    const { adminToken } = await withEnv(env(setupTap.url), () => bootstrap({}, {}));
    if (!adminToken) throw new Error('cost bench: bootstrap issued no admin token on a fresh table');
    await cluster.http.start();
    await cluster.http.startFunctionUrl();
    cluster.admin = new AdminClient(cluster.http.url, adminToken);
    cluster.bootstrapToken = await cluster.admin.bootstrapToken();
    return cluster;
  }

  /** Where agents sync, as serverless.yml has it: the function URL, or the HTTP API. */
  get agentUrl(): string {
    return this.deployment.agentsViaFunctionUrl ? this.http.functionUrl : this.http.url;
  }

  async snapshot(): Promise<Snapshot> {
    await this.meter.settled();
    return {
      at: Date.now(),
      api: copyStats(this.apiTap.stats),
      http: structuredClone(this.http.stats),
      schedule: structuredClone(this.controllers.stats.schedule),
      stream: structuredClone(this.controllers.stats.stream),
      controllers: copyStats(this.ctlTap.stats),
      containers: this.http.containers,
    };
  }

  static window(a: Snapshot, b: Snapshot): Window {
    const http = diffInvocations(b.http, a.http);
    const schedule = diffTrigger(b.schedule, a.schedule);
    const stream = diffTrigger(b.stream, a.stream);
    // A pass can outlast a window: the window takes the commands made within it, and gives the
    // scheduled passes (which run alone) theirs; the rest is the stream's.
    stream.dynamo = diffStats(diffStats(b.controllers, a.controllers), schedule.dynamo);
    return {
      minutes: (b.at - a.at) / 60_000,
      api: diffStats(b.api, a.api),
      http,
      schedule,
      stream,
      syncs: http.byRoute['POST /agent/v1/sync']?.requests ?? 0,
    };
  }

  async close(): Promise<void> {
    await this.controllers.stop();
    await this.http.drain();
    await this.http.close();
    await this.meter.close();
    await this.observer.close();
  }
}
