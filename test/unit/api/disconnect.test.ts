/**
 * The held-sync disconnect check: a cut held call marks the node Unknown only when its agent did
 * not call again. An agent that called again but whose sync is still on its way to the Lease
 * renewal (a busy server) is there, and its node stays Ready.
 */
import { describe, expect, it } from 'vitest';
import { suspectDisconnect } from '../../../functions/api/agent/disconnect';
import { syncStarted } from '../../../functions/api/agent/sync-lag';
import { silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import type { Node } from '../../../schemas';
import { makeNode } from '../../helpers/objects';

const readyOf = async (store: MemoryStore, name: string) =>
  (await store.get<Node>({ kind: 'Node', name }))?.status?.conditions?.find((c) => c.type === 'Ready')?.status;

const settle = () => new Promise((r) => setTimeout(r, 80));

describe('the disconnect check after a cut held sync', () => {
  it('marks the node Unknown when its agent does not call again within the grace', async () => {
    const store = new MemoryStore();
    await store.create(makeNode('gone'));

    suspectDisconnect({ store, clock: Date.now, log: silentLogger }, 'gone', 20);
    await settle();

    expect(await readyOf(store, 'gone')).toBe('Unknown');
  });

  it('keeps the node Ready when its agent called again, though that sync has not renewed the Lease yet', async () => {
    const store = new MemoryStore();
    await store.create(makeNode('back'));

    suspectDisconnect({ store, clock: Date.now, log: silentLogger }, 'back', 20);
    await new Promise((r) => setTimeout(r, 2));
    syncStarted(store, 'back', Date.now());
    await settle();

    expect(await readyOf(store, 'back')).toBe('True');
  });
});
