/**
 * Shared by the agent protocol tests: an in-process API in a given sync mode over a store whose
 * calls are counted (as the cost bench counts them), a registered node n1, and the real agent
 * loop wired to the API (`Harnessed`), recording what it feeds the pod manager and the proxy.
 */
import { Agent, type PodSink, type ServiceSink } from '../../../agent/agent';
import { type AgentApiClient, ApiRequestError } from '../../../agent/api-client';
import type { AgentConfig } from '../../../agent/config';
import { POLLED_SYNC } from '../../../functions/api/agent/modes';
import type { AgentSyncConfig } from '../../../functions/api/types';
import { createControllerManager } from '../../../functions/controllers/manager';
import { MemoryStore } from '../../../functions/store/memory';
import type { StateStore } from '../../../functions/store/types';
import type { ConfigSource, ServiceRoute, SyncRequest, SyncResponse } from '../../../schemas/agent-protocol';
import { type Sent, startApi, T0, type TestApi } from './harness';

export const SYNC = '/agent/v1/sync';
const STATUS = {
  capacity: { cpu: '4', memory: '8Gi', pods: '110' },
  allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
  addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
  conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady' }],
};
/** Past the time a list by node may lag its change (the polled mode's settle time). */
export const SETTLED = POLLED_SYNC.listSettleMs + 1;

/** Counts every store call by method and kind while `on`. */
export function counting(inner: StateStore) {
  const calls: { method: string; kind: string }[] = [];
  const state = { on: false };
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (state.on && prop !== 'watch') {
          const first = args[0] as { kind?: string } | string | unknown[] | undefined;
          const kind = typeof first === 'string' ? first : Array.isArray(first) ? 'batch' : (first?.kind ?? '');
          calls.push({ method: String(prop), kind });
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, calls, state };
}

export async function setup(mode: AgentSyncConfig) {
  const c = counting(new MemoryStore(() => T0));
  const api = await startApi(c.store, { agentSync: mode });
  const bootstrap = await api.token({ role: 'bootstrap', ttlSeconds: 600 });
  const reg = await api.send('POST', '/agent/v1/register', {
    token: bootstrap,
    body: { nodeName: 'n1', status: STATUS },
  });
  const token = String(reg.json.token);
  const sync = (body: SyncRequest = {}) => api.send('POST', SYNC, { token, body });
  /** The next sync from an agent that holds what `previous` gave it. */
  const syncAfter = (previous: Sent, extra: SyncRequest = {}) =>
    sync({
      versions: previous.json.versions as SyncRequest['versions'],
      leaseRenewedAt: previous.json.leaseRenewedAt as number,
      ...extra,
    });
  const controllers = createControllerManager(api.deps);
  return { api, counter: c, sync, syncAfter, token, controllers };
}

export type Setup = Awaited<ReturnType<typeof setup>>;

/**
 * How the harness' wire behaves: `oldServer` plays a server from before pod diffs (it names no pod
 * versions and refuses `heldPods` as an unknown field, 422), switchable mid-test.
 */
export interface Wire {
  oldServer?: boolean;
}

export class Harnessed {
  desired: Record<string, unknown>[] = [];
  config: { configMaps?: ConfigSource[]; secrets?: ConfigSource[] } = {};
  routes: ServiceRoute[] = [];
  /** Every sync the agent sent and every answer it got, in order. */
  readonly requests: SyncRequest[] = [];
  readonly answers: SyncResponse[] = [];
  readonly agent: Agent;
  constructor(api: TestApi, token: string, wire: Wire = {}) {
    const { requests, answers } = this;
    const client = {
      async sync(req: SyncRequest): Promise<SyncResponse> {
        requests.push(req);
        if (wire.oldServer && req.heldPods) throw new ApiRequestError('sync: 422 unknown field heldPods', 422);
        const res = await api.send('POST', SYNC, { token, body: { ...req, waitSeconds: 0 } });
        if (res.status >= 400 && res.status < 500) throw new ApiRequestError(`sync: ${res.status}`, res.status);
        if (res.status !== 200) throw new Error(`sync: ${res.status} ${res.json.message}`);
        const answer = res.json as unknown as SyncResponse;
        if (wire.oldServer) delete answer.podVersions;
        answers.push(answer);
        return answer;
      },
    };
    const pods: PodSink = {
      setDesired: (p, c) => {
        this.desired = p;
        this.config = c ?? {};
      },
      changedStatuses: () => [],
      terminated: () => [],
      markReported() {},
      markAllUnreported() {},
      runtimeHealthy: async () => ({ ok: true, message: 'ok', version: 'test' }),
      logs: async () => ({ error: 'none' }),
      onStatusChange() {},
    };
    const services: ServiceSink = {
      update: async (r) => {
        this.routes = [...r].sort((a, b) => a.name.localeCompare(b.name));
      },
    };
    const config = {
      nodeName: 'n1',
      nodeIp: '10.0.0.1',
      syncWaitSeconds: 0,
      maxPods: 110,
      labels: {},
    } as unknown as AgentConfig;
    const log = { debug() {}, info() {}, warn() {}, error() {} } as never;
    this.agent = new Agent(config, client as unknown as AgentApiClient, pods, log, () => api.now.ms, services);
  }
  view() {
    const names = this.desired
      .map((p) => (p as { metadata: { name: string; deletionTimestamp?: string } }).metadata)
      .filter((m) => !m.deletionTimestamp)
      .map((m) => m.name)
      .sort();
    return { pods: names, config: this.config, routes: this.routes };
  }
}
