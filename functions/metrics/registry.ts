/**
 * The control plane's metrics, behind the `MetricsSink` the cores call (functions/deps.ts). Names
 * follow the components ferry stands in for, so dashboards and alerts written for Kubernetes read
 * them: `apiserver_request_total` / `apiserver_request_duration_seconds`
 * (k8s.io/apiserver/pkg/endpoints/metrics), `scheduler_schedule_attempts_total` (kube-scheduler);
 * ferry's own are `ferry_*`. The process's own (CPU, memory, event loop lag, GC) are prom-client's
 * default collectors, read only at scrape time.
 *
 * The hot path: each label set's series is looked up once and kept in a Map by a joined key
 * (families.ts), so a request costs one string join, one map lookup, an add and a bucket search.
 */
import type { Registry } from 'prom-client';
import type { MetricsSink, RequestLabels } from '../deps';
import type { ClusterGauges } from './cluster-gauges';
import { Counter, type CounterSeries, Gauge, Histogram, type HistogramSeries } from './families';
import type { StoreObserver } from './store';

export interface ControlPlaneMetricsOptions {
  /**
   * Count what this process does (requests, syncs, store operations, controller runs). False on
   * Lambda: one instance's counters are a random slice of the traffic, so only the gauges are served.
   */
  counters: boolean;
  /** Node's process metrics (CPU, memory, event loop lag): prom-client's defaults. */
  processMetrics?: boolean;
}

export interface ControlPlaneMetrics extends MetricsSink {
  /** Serves the cluster gauges (nodes by Ready, pods by phase) from `gauges`; closed with the metrics. */
  addGauges(gauges: ClusterGauges): void;
  /** For `instrumentStore` (store.ts). */
  observeStore: StoreObserver;
  close(): void;
}

/** Request latency buckets (seconds): apiserver's, thinned above 1 s. */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const RUN_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const SYNC_PATH = '/agent/v1/sync';
const REQUEST_LABELS = ['verb', 'group', 'version', 'resource', 'subresource', 'scope'];
const READY = ['True', 'False', 'Unknown'];
const PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];

export function createControlPlaneMetrics(options: ControlPlaneMetricsOptions): ControlPlaneMetrics {
  const requests = new Counter(
    'apiserver_request_total',
    'API requests by verb, group, version, resource, subresource, scope and HTTP code.',
    [...REQUEST_LABELS, 'code'],
  );
  const latency = new Histogram(
    'apiserver_request_duration_seconds',
    'API response latency by verb, group, version, resource, subresource and scope. Long-running requests are left out: watches (they last as long as the client stays) and agent syncs (held open by design; ferry_agent_sync_duration_seconds has them).',
    REQUEST_LABELS,
    REQUEST_BUCKETS,
  );
  const syncs = new Counter(
    'ferry_agent_syncs_total',
    'Agent syncs answered, by mode (held: waited for a change; quick: answered at once) and whether the answer carried changes.',
    ['mode', 'changes'],
  );
  const syncLatency = new Histogram(
    'ferry_agent_sync_duration_seconds',
    'Agent sync latency by mode (held ones include the wait for a change).',
    ['mode'],
    REQUEST_BUCKETS,
  );
  const storeOps = new Counter(
    'ferry_store_operations_total',
    'State store operations by operation, kind and result (ok, error).',
    ['operation', 'kind', 'result'],
  );
  const storeLatency = new Histogram(
    'ferry_store_operation_duration_seconds',
    'State store operation latency by operation.',
    ['operation'],
    STORE_BUCKETS,
  );
  const controllerRuns = new Histogram(
    'ferry_controller_run_duration_seconds',
    "One controller's run within a controller-manager pass, by controller.",
    ['controller'],
    RUN_BUCKETS,
  );
  const controllerErrors = new Counter(
    'ferry_controller_errors_total',
    'Controller runs that failed (threw), by controller.',
    ['controller'],
  );
  const attempts = new Counter(
    'scheduler_schedule_attempts_total',
    'Attempts to schedule pods, by result (scheduled, unschedulable, error: a bind lost to a concurrent write).',
    ['result'],
  );
  const [scheduled, unschedulable, schedulingErrors] = ['scheduled', 'unschedulable', 'error'].map((r) =>
    attempts.get(r),
  ) as [CounterSeries, CounterSeries, CounterSeries];
  // Every series a rate() is taken of exists from the start, at 0.
  for (const mode of ['held', 'quick']) for (const changes of ['true', 'false']) syncs.get(mode, changes);
  const families = [
    requests,
    latency,
    syncs,
    syncLatency,
    storeOps,
    storeLatency,
    controllerRuns,
    controllerErrors,
    attempts,
  ];
  const gaugeFamilies: Gauge[] = [];
  let gauges: ClusterGauges | undefined;

  const requestSeries = new Map<string, { count: CounterSeries; time: HistogramSeries | undefined }>();
  const storeSeries = new Map<string, { count: CounterSeries; time: HistogramSeries }>();
  const counting = options.counters;

  return {
    countsRequests: counting,
    addGauges(given: ClusterGauges) {
      gauges = given;
      // One read of the counts per scrape, shared by the two gauges.
      let pending: ReturnType<ClusterGauges['counts']> | undefined;
      const counts = () => {
        pending ??= given.counts().finally(() => {
          pending = undefined;
        });
        return pending;
      };
      const complete = (known: string[], got: Map<string, number>) => new Map(known.map((k) => [k, got.get(k) ?? 0]));
      gaugeFamilies.push(
        new Gauge(
          'ferry_cluster_nodes',
          'Nodes by the status of their Ready condition (True, False, Unknown).',
          'ready',
          async () => complete(READY, (await counts()).nodes),
        ),
        new Gauge(
          'ferry_cluster_pods',
          'Pods by phase (Pending, Running, Succeeded, Failed, Unknown).',
          'phase',
          async () => complete(PHASES, (await counts()).pods),
        ),
      );
    },
    apiRequest(l: RequestLabels, code: number, seconds: number) {
      if (!counting) return;
      const key = `${l.verb} ${l.group} ${l.version} ${l.resource} ${l.subresource} ${l.scope} ${code}`;
      let series = requestSeries.get(key);
      if (!series) {
        const values = [l.verb, l.group, l.version, l.resource, l.subresource, l.scope];
        series = {
          count: requests.get(...values, String(code)),
          time: l.verb === 'watch' || l.subresource === SYNC_PATH ? undefined : latency.get(...values),
        };
        requestSeries.set(key, series);
      }
      series.count.inc();
      series.time?.observe(seconds);
    },
    agentSync(held: boolean, changed: boolean, seconds: number) {
      if (!counting) return;
      const mode = held ? 'held' : 'quick';
      syncs.get(mode, changed ? 'true' : 'false').inc();
      syncLatency.get(mode).observe(seconds);
    },
    controllerRun(controller: string, seconds: number, failed: boolean) {
      if (!counting) return;
      controllerRuns.get(controller).observe(seconds);
      if (failed) controllerErrors.get(controller).inc();
    },
    schedulingAttempts(bound: number, failed: number, errors: number) {
      if (!counting) return;
      scheduled.inc(bound);
      unschedulable.inc(failed);
      schedulingErrors.inc(errors);
    },
    observeStore(operation: string, kind: string, seconds: number, failed: boolean) {
      if (!counting) return;
      const key = `${operation} ${kind} ${failed ? 'e' : 'o'}`;
      let series = storeSeries.get(key);
      if (!series) {
        series = {
          count: storeOps.get(operation, kind, failed ? 'error' : 'ok'),
          time: storeLatency.get(operation),
        };
        storeSeries.set(key, series);
      }
      series.count.inc();
      series.time.observe(seconds);
    },
    async render() {
      const parts = counting ? families.map((f) => f.render()) : [];
      for (const g of gaugeFamilies) parts.push(await g.render());
      if (options.processMetrics) parts.push(await (await processRegistry()).metrics());
      return parts.join('');
    },
    close() {
      gauges?.close();
    },
  };
}

type PromClient = typeof import('prom-client');

let processMetrics: Promise<Registry> | undefined;

/**
 * The process's own metrics, collected once per process: they describe the process, not a
 * control plane in it, and prom-client's collectors cannot be stopped (a test that starts many
 * servers would pile them up). Imported on the first scrape that wants them, so the Lambda
 * bundle (gauges only) never loads prom-client.
 */
function processRegistry(): Promise<Registry> {
  processMetrics ??= import('prom-client').then((loaded) => {
    // A CommonJS package: bundled as ESM, its exports are the namespace's `default`.
    const { Registry, collectDefaultMetrics } = (loaded as PromClient & { default?: PromClient }).default ?? loaded;
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    return registry;
  });
  return processMetrics;
}
