/**
 * The real agent loop over the in-process API: after missed syncs, after a restart (holding
 * nothing), and with stale or hostile versions, it holds what a fresh full sync would give.
 */
import { describe, expect, it } from 'vitest';
import { POLLED_SYNC } from '../../../functions/api/agent/modes';
import { reconcileEndpoints } from '../../../functions/controllers/endpoints';
import { Harnessed, type Setup, setup } from './agent-protocol-harness';
import { configMap, pod } from './harness';

describe('agent protocol: convergence', () => {
  async function changeEverything(t: Setup, round: number) {
    const p = pod(`web-${round}`, { nodeName: 'n1' });
    (p.spec.containers[0] as Record<string, unknown>).envFrom = [{ configMapRef: { name: 'cfg' } }];
    await t.api.send('POST', '/api/v1/namespaces/default/pods', { body: p });
    if (round > 0) await t.api.send('DELETE', `/api/v1/namespaces/default/pods/web-${round - 1}`);
    await t.api.send('PUT', '/api/v1/namespaces/default/configmaps/cfg', {
      body: configMap('cfg', { R: String(round) }),
    });
    await t.api.send('POST', '/api/v1/namespaces/default/services', {
      body: { apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${round}` }, spec: { ports: [{ port: 80 }] } },
    });
    if (round > 0) await t.api.send('DELETE', `/api/v1/namespaces/default/services/svc-${round - 1}`);
    await reconcileEndpoints(t.api.deps);
  }

  it('converges after missed syncs, and a restarted agent holding nothing converges to the same state', async () => {
    // prepare
    const t = await setup(POLLED_SYNC);
    await t.api.send('POST', '/api/v1/namespaces/default/configmaps', { body: configMap('cfg') });
    const steady = new Harnessed(t.api, t.token);
    await steady.agent.syncOnce();

    // act: changes with a sync after some rounds only (the others are missed)
    for (let round = 0; round < 6; round++) {
      await changeEverything(t, round);
      t.api.now.ms += 500;
      if (round % 2 === 1) await steady.agent.syncOnce();
    }
    t.api.now.ms += POLLED_SYNC.listSettleMs + 1;
    await steady.agent.syncOnce();
    await steady.agent.syncOnce();
    const restarted = new Harnessed(t.api, t.token);
    await restarted.agent.syncOnce();

    // assess
    expect(steady.view().pods).toEqual(['web-5']);
    expect(steady.view().config.configMaps).toEqual([{ namespace: 'default', name: 'cfg', data: { R: '5' } }]);
    // With the built-in kubernetes Service's route, which every node serves.
    expect(steady.view().routes.map((r) => r.name)).toEqual(['kubernetes', 'svc-5']);
    expect(restarted.view()).toEqual(steady.view());
  });

  it('converges when an agent sends versions that are stale, unknown or hostile', async () => {
    // prepare
    const t = await setup(POLLED_SYNC);
    await t.api.send('POST', '/api/v1/namespaces/default/configmaps', { body: configMap('cfg') });
    await changeEverything(t, 0);
    await changeEverything(t, 1);
    t.api.now.ms += POLLED_SYNC.listSettleMs + 1;
    const truth = await t.sync();

    // act
    const answers = await Promise.all(
      [
        { pods: 'old', config: 'old', logs: 'old', routes: '1' },
        { pods: '', config: '__proto__', logs: 'x'.repeat(64), routes: '999999' },
        { routes: '-1' },
      ].map((versions) => t.sync({ versions })),
    );

    // assess
    for (const res of answers) {
      expect(res.status).toBe(200);
      expect(res.json.pods).toEqual(truth.json.pods);
      expect(res.json.configMaps).toEqual(truth.json.configMaps);
      expect(res.json.versions).toEqual(truth.json.versions);
    }
    // An agent at sequence 1 holds the first route published, the built-in kubernetes Service's.
    expect(answers[0]?.json.routes).toEqual({
      full: false,
      services: (truth.json.routes as { services: { name: string }[] }).services.filter((s) => s.name !== 'kubernetes'),
      removed: ['default/svc-0'],
    });
    expect(answers[1]?.json.routes).toEqual(expect.objectContaining({ full: true }));
    expect(answers[2]?.json.routes).toEqual(expect.objectContaining({ full: true }));
  });

  it('refuses versions longer than the protocol allows with 422, writing nothing', async () => {
    // prepare
    const t = await setup(POLLED_SYNC);
    const before = await t.api.snapshot();

    // act
    const res = await t.sync({ versions: { pods: 'x'.repeat(65) } });

    // assess
    expect(res.status).toBe(422);
    expect(await t.api.snapshot()).toBe(before);
  });
});
