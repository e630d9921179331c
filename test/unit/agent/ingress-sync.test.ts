/**
 * The agent's side of the ingress section: the real sync loop against the real API feeds the
 * ingress its table once, the routes with every route change, and the ingress ports come from
 * flags (80 and 443 by default, `off` to turn one off).
 */
import { describe, expect, it } from 'vitest';
import { Agent, FULL_RESYNC_MS, type IngressSink, type PodSink } from '../../../agent/agent';
import type { AgentApiClient } from '../../../agent/api-client';
import { ConfigError, loadConfig } from '../../../agent/config';
import { HELD_SYNC } from '../../../functions/api/agent/modes';
import type { IngressTable, ServiceRoute, SyncRequest, SyncResponse } from '../../../schemas/agent-protocol';
import { SYNC, setup } from '../api/agent-protocol-harness';

const pods: PodSink = {
  setDesired() {},
  changedStatuses: () => [],
  terminated: () => [],
  markReported() {},
  markAllUnreported() {},
  runtimeHealthy: async () => ({ ok: true, message: 'ok', version: 'test' }),
  logs: async () => ({ error: 'none' }),
  onStatusChange() {},
};

describe('the agent feeding its built-in ingress', () => {
  it('gives the ingress the table when it moves, and the routes its backends need', async () => {
    // prepare
    const t = await setup({ ...HELD_SYNC, hold: false });
    const fed: { table?: IngressTable; routes?: readonly ServiceRoute[] }[] = [];
    const sink: IngressSink = {
      update: async (table, routes) => {
        fed.push({ ...(table ? { table } : {}), ...(routes ? { routes } : {}) });
      },
    };
    const client = {
      async sync(req: SyncRequest): Promise<SyncResponse> {
        const res = await t.api.send('POST', SYNC, { token: t.token, body: { ...req, waitSeconds: 0 } });
        return res.json as unknown as SyncResponse;
      },
    };
    const config = { nodeName: 'n1', nodeIp: '10.0.0.1', syncWaitSeconds: 0, labels: {} } as never;
    const log = { debug() {}, info() {}, warn() {}, error() {} } as never;
    const agent = new Agent(
      config,
      client as unknown as AgentApiClient,
      pods,
      log,
      () => t.api.now.ms,
      undefined,
      sink,
    );
    await t.api.send('POST', '/apis/networking.k8s.io/v1/namespaces/default/ingresses', {
      body: {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name: 'shop' },
        spec: { defaultBackend: { service: { name: 'web', port: { number: 80 } } } },
      },
    });
    await t.controllers.runOnce();

    // act: a first sync, a quiet one, and one after the agent's periodic full resync
    await agent.syncOnce();
    await agent.syncOnce();
    t.api.now.ms += FULL_RESYNC_MS + 1;
    await agent.syncOnce();

    // assess: only the first carried the table (and the route table): the full resync keeps the
    // ingress version, as it keeps the routes', so TLS keys are not resent every ten minutes
    expect(fed).toHaveLength(1);
    expect(fed[0]?.table?.defaults.map((d) => d.backend.name)).toEqual(['web']);
    // No Service web exists here: the only route is the built-in kubernetes Service's.
    expect(fed[0]?.routes?.map((r) => r.name)).toEqual(['kubernetes']);
  });

  it('listens on 80 and 443 by default, takes other ports, and refuses a bad one', () => {
    // act
    const dflt = loadConfig(['--api-url', 'http://x'], {});
    const moved = loadConfig(
      ['--api-url', 'http://x', '--ingress-http-port', '8080', '--ingress-https-port', 'off'],
      {},
    );

    // assess
    expect([dflt.ingressHttpPort, dflt.ingressHttpsPort]).toEqual([80, 443]);
    expect([moved.ingressHttpPort, moved.ingressHttpsPort]).toEqual([8080, undefined]);
    expect(() => loadConfig(['--api-url', 'http://x', '--ingress-http-port', '70000'], {})).toThrow(ConfigError);
    expect(() => loadConfig(['--api-url', 'http://x'], { FERRY_INGRESS_HTTPS_PORT: 'x' })).toThrow(ConfigError);
  });
});
