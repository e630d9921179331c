/** The server's stream sessions: random, single-use, bound to one node, expiring. */
import { describe, expect, it } from 'vitest';
import { type StreamPeer, StreamSessions } from '../../../functions/api/exec-sessions';

const peer = (): StreamPeer => ({
  send: () => undefined,
  close: () => undefined,
  onMessage: () => undefined,
  onClose: () => undefined,
  pause: () => undefined,
  resume: () => undefined,
});

describe('stream sessions', () => {
  it("hands the pod's node's end to the waiting session, once", async () => {
    // prepare
    const sessions = new StreamSessions(Date.now);
    const open = sessions.open('n1', 10_000);
    const node = peer();

    // act
    sessions.claim(open.id, 'n1')(node);
    const again = () => sessions.claim(open.id, 'n1');

    // assess
    expect(await open.agent).toBe(node);
    expect(again).toThrow('stream session not found: unknown, already used or expired');
    expect(sessions.size).toBe(0);
  });

  it("refuses another node's claim and leaves the session to its own node", async () => {
    // prepare
    const sessions = new StreamSessions(Date.now);
    const open = sessions.open('n1', 10_000);

    // act
    const wrong = () => sessions.claim(open.id, 'n2');

    // assess
    expect(wrong).toThrow(`node "n2" may not answer a stream session for another node's pod`);
    expect(sessions.size).toBe(1);
    sessions.claim(open.id, 'n1')(peer());
    expect(await open.agent).toBeDefined();
  });

  it('expires a session nobody claimed in time: the claim is refused and the waiter gets nothing', async () => {
    // prepare
    const now = { ms: 1_000 };
    const sessions = new StreamSessions(() => now.ms);
    const open = sessions.open('n1', 60_000);

    // act
    now.ms += 60_001;
    const late = () => sessions.claim(open.id, 'n1');

    // assess
    expect(late).toThrow('not found');
    expect(await open.agent).toBeUndefined();
  });

  it('gives each session a different unguessable id, and a cancelled one cannot be claimed', async () => {
    // prepare
    const sessions = new StreamSessions(Date.now);
    const ids = new Set(Array.from({ length: 100 }, () => sessions.open('n1', 10_000).id));
    const open = sessions.open('n1', 10_000);

    // act
    open.cancel();

    // assess
    expect(ids.size).toBe(100);
    expect([...ids].every((id) => /^[A-Za-z0-9_-]{32}$/.test(id))).toBe(true);
    expect(() => sessions.claim(open.id, 'n1')).toThrow('not found');
    expect(await open.agent).toBeUndefined();
    sessions.closeAll();
    expect(sessions.size).toBe(0);
  });
});
