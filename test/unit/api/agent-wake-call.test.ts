/**
 * `/agent/v1/wake` (functions/api/agent/desired.ts releaseHeldSyncs): an agent that must report
 * while its sync is held asks the server to answer the held call now, so the report goes out on
 * the connection it has instead of a new one (a cut closes the socket, and Node accepts one new
 * connection per event-loop turn). Only the node's own credential may ask, and only for itself.
 */
import { describe, expect, it } from 'vitest';
import { HELD_SYNC } from '../../../functions/api/agent/modes';
import { setup } from './agent-protocol-harness';

describe('agent protocol: a node asks for its held sync to be answered', () => {
  it('answers the held sync at once, with the Lease renewed, and says one was held', async () => {
    // prepare
    const { api, sync, syncAfter, token } = await setup(HELD_SYNC);
    const first = await sync();
    const started = Date.now();
    const held = syncAfter(first, { waitSeconds: 5 });
    await new Promise((r) => setTimeout(r, 100));

    // act
    const wake = await api.send('POST', '/agent/v1/wake', { token, body: {} });
    const answer = await held;

    // assert
    expect(wake.status).toBe(200);
    expect(wake.json).toEqual({ released: 1, kept: false });
    expect(answer.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(typeof answer.json.leaseRenewedAt).toBe('number');
  });

  it('keeps a wake that found no held sync, so the sync on its way answers at once and the next one holds', async () => {
    // prepare
    const { api, sync, syncAfter, token } = await setup(HELD_SYNC);
    const first = await sync();

    // act: the wake overtakes the held sync (it reaches the server first)
    const wake = await api.send('POST', '/agent/v1/wake', { token, body: {} });
    const started = Date.now();
    const early = await syncAfter(first, { waitSeconds: 5 });
    const answeredIn = Date.now() - started;
    const next = Date.now();
    const later = await syncAfter(early, { waitSeconds: 1 });

    // assert: told not to cut; that sync answered at once, the one after held its full second
    expect(wake.status).toBe(200);
    expect(wake.json).toEqual({ released: 0, kept: true });
    expect(early.status).toBe(200);
    expect(answeredIn).toBeLessThan(2_500);
    expect(later.status).toBe(200);
    expect(Date.now() - next).toBeGreaterThanOrEqual(800);
  });

  it("refuses a wake from a reader's or a bootstrap credential, and a GET, and releases nothing", async () => {
    // prepare
    const { api, sync, syncAfter } = await setup(HELD_SYNC);
    const first = await sync();
    const held = syncAfter(first, { waitSeconds: 1 });
    await new Promise((r) => setTimeout(r, 50));
    const reader = await api.token({ role: 'reader' });
    const bootstrap = await api.token({ role: 'bootstrap', ttlSeconds: 600 });
    const started = Date.now();

    // act
    const asReader = await api.send('POST', '/agent/v1/wake', { token: reader, body: {} });
    const asBootstrap = await api.send('POST', '/agent/v1/wake', { token: bootstrap, body: {} });
    const asGet = await api.send('GET', '/agent/v1/wake', { token: reader });
    const answer = await held;

    // assert: the held sync ran its full hold
    expect(asReader.status).toBe(403);
    expect(asBootstrap.status).toBe(403);
    expect([403, 405]).toContain(asGet.status);
    expect(answer.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
  });
});
