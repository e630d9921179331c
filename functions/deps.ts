/**
 * What every function core receives. Cores take `(deps, input)` and never read process.env, a
 * Lambda event or the wall clock directly: `functions/runtime/*` builds this object.
 */
import type { Logger } from './log';
import type { Clock, StateStore } from './store/types';

export interface Deps {
  store: StateStore;
  /** Milliseconds since the epoch; a fake clock in the simulation. */
  clock: Clock;
  log: Logger;
  /** Where cores count what they do (functions/metrics/); absent, they count nothing. */
  metrics?: MetricsSink;
}

/**
 * The counters cores feed, in plain values so a call costs a map lookup and an add (the API's hot
 * path calls `apiRequest` on every request). Labels are bounded by their callers: kinds, fixed
 * route names, controller names, never an object's name or a raw path.
 */
export interface MetricsSink {
  /** False where one instance's counters mean nothing (Lambda): the API then labels no request. */
  readonly countsRequests?: boolean;
  /** One API request: Kubernetes' verb and target (`resource` "" for non-resource paths), its code, its duration. */
  apiRequest(labels: RequestLabels, code: number, seconds: number): void;
  /** One `/agent/v1/sync`: held open until something moved, or answered at once; with changes or not; how long. */
  agentSync(held: boolean, changed: boolean, seconds: number): void;
  /** One controller's run within a pass, and whether it threw. */
  controllerRun(controller: string, seconds: number, failed: boolean): void;
  /** One scheduler pass's outcomes, as kube-scheduler counts attempts. */
  schedulingAttempts(scheduled: number, unschedulable: number, errors: number): void;
  /** The Prometheus text exposition of everything above and of the cluster gauges. */
  render(): Promise<string>;
}

/** apiserver_request_total's labels (k8s.io/apiserver/pkg/endpoints/metrics). */
export interface RequestLabels {
  verb: string;
  group: string;
  version: string;
  resource: string;
  subresource: string;
  scope: string;
}
