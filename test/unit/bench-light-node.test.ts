/**
 * The scale bench's light simulated node (bench/scale/light-node.ts, light-answer.ts): it sends
 * what the real agent sends where the server can tell (the versions and Lease renewal it was
 * given, a held call only when nothing is to be reported, each desired pod reported Running once,
 * terminating pods in `terminated`, everything again after a failure), and reads an answer's
 * head exactly as parsing it whole would.
 */
import { describe, expect, it } from 'vitest';
import { fromResponse, readSyncAnswer } from '../../bench/scale/light-answer';
import { Answer } from '../../bench/scale/light-http';
import { LightNode, SYNC_WAIT_SECONDS } from '../../bench/scale/light-node';
import type { SyncRequest, SyncResponse } from '../../schemas/agent-protocol';

const T = Date.parse('2026-12-01T00:00:00Z');
const VERSIONS = { pods: 'p1', config: 'c1', logs: 'l1', routes: '3', ingress: '' };

function answer(extra: Partial<SyncResponse> = {}): SyncResponse {
  return { versions: VERSIONS, nodeStatusUpdateSeconds: 300, leaseRenewedAt: T + 1, ...extra };
}

function pod(name: string, extra: Record<string, unknown> = {}) {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, ...extra },
    spec: {
      nodeName: 'n1',
      containers: [{ name: 'app', image: 'ferry.local/app:1', ports: [{ name: 'http', containerPort: 8080 }] }],
    },
  };
}

const body = (node: LightNode, now: number) => {
  const next = node.nextSync(now);
  return { ...next, req: JSON.parse(next.body) as SyncRequest };
};

describe('light simulated node', () => {
  it('sends its status first, then holds quiet syncs echoing the versions and Lease renewal it was given', () => {
    // prepare
    const node = new LightNode('n1', '10.0.0.1');

    // act
    const first = body(node, T);
    node.answered(fromResponse(answer()), T);
    const quiet = body(node, T + 10);

    // assess
    expect(first.req.waitSeconds).toBe(0);
    expect(first.req.nodeStatus).toMatchObject({
      capacity: { cpu: '4', memory: '8Gi', pods: '110' },
      addresses: [
        { type: 'InternalIP', address: '10.0.0.1' },
        { type: 'Hostname', address: 'n1' },
      ],
    });
    expect(first.req.versions).toBeUndefined();
    expect(quiet.waitSeconds).toBe(SYNC_WAIT_SECONDS);
    expect(quiet.req).toEqual({ waitSeconds: SYNC_WAIT_SECONDS, versions: VERSIONS, leaseRenewedAt: T + 1 });
  });

  it('reports each desired pod Running once its start is due, with the status the agent builds, and only once', () => {
    // prepare
    const node = new LightNode('n1', '10.0.0.1', 10);
    node.nextSync(T);
    node.answered(fromResponse(answer({ pods: [pod('a'), pod('b')] })), T);

    // act
    const beforeStart = body(node, T + 5);
    const dueIn = node.reportDueIn(T + 5);
    node.cut();
    const report = body(node, T + 10);
    node.answered(fromResponse(answer()), T + 11);
    const after = body(node, T + 12);

    // assess
    expect(beforeStart.waitSeconds).toBe(SYNC_WAIT_SECONDS);
    expect(dueIn).toBe(5);
    // The cut call was seen dropped: the next renews the Lease.
    expect(report.req.leaseRenewedAt).toBeUndefined();
    expect(report.waitSeconds).toBe(0);
    expect(report.req.podStatuses?.map((s) => s.pod)).toEqual([
      { namespace: 'default', name: 'a', uid: 'uid-a' },
      { namespace: 'default', name: 'b', uid: 'uid-b' },
    ]);
    const status = report.req.podStatuses?.[0]?.status as Record<string, unknown>;
    expect(status).toMatchObject({
      phase: 'Running',
      hostIP: '10.0.0.1',
      containerStatuses: [{ name: 'app', image: 'ferry.local/app:1', ready: true, started: true, restartCount: 0 }],
      portMappings: [{ containerName: 'app', name: 'http', containerPort: 8080, protocol: 'TCP' }],
    });
    expect((status.conditions as { type: string; status: string }[]).map((c) => [c.type, c.status])).toEqual([
      ['Initialized', 'True'],
      ['ContainersReady', 'True'],
      ['Ready', 'True'],
    ]);
    expect(after.req.podStatuses).toBeUndefined();
    expect(after.waitSeconds).toBe(SYNC_WAIT_SECONDS);
  });

  it('reports a terminating pod in terminated once, and forgets pods the server no longer lists', () => {
    // prepare
    const node = new LightNode('n1', '10.0.0.1');
    node.nextSync(T);
    node.answered(fromResponse(answer({ pods: [pod('a'), pod('b')] })), T);
    node.nextSync(T);
    node.answered(fromResponse(answer()), T);

    // act
    node.answered(
      fromResponse(answer({ pods: [pod('a', { deletionTimestamp: '2026-12-01T00:00:01Z' }), pod('b')] })),
      T + 1,
    );
    const gone = body(node, T + 2);
    node.answered(fromResponse(answer({ pods: [pod('b')] })), T + 3);
    const quiet = body(node, T + 4);

    // assess
    expect(gone.req.terminated).toEqual([{ namespace: 'default', name: 'a', uid: 'uid-a' }]);
    expect(gone.req.podStatuses).toBeUndefined();
    expect(quiet.req.terminated).toBeUndefined();
    expect(node.view().map((p) => p.uid)).toEqual(['uid-b']);
  });

  it('resends every pod status and its node status after a failed sync, and renews the Lease', () => {
    // prepare
    const node = new LightNode('n1', '10.0.0.1');
    node.nextSync(T);
    node.answered(fromResponse(answer({ pods: [pod('a')] })), T);
    node.nextSync(T + 1);
    node.answered(fromResponse(answer()), T + 1);

    // act
    node.nextSync(T + 2);
    node.failed();
    const retry = body(node, T + 3);

    // assess
    expect(retry.waitSeconds).toBe(0);
    expect(retry.req.nodeStatus).toBeDefined();
    expect(retry.req.podStatuses?.map((s) => s.pod.name)).toEqual(['a']);
    expect(retry.req.leaseRenewedAt).toBeUndefined();
    // The versions stay: they still say what the node holds.
    expect(retry.req.versions).toEqual(VERSIONS);
  });

  it('names the pods it holds by the versions the server gave, takes a diff as the agent does, and stops after a refused sync', () => {
    // prepare
    const node = new LightNode('n1', '10.0.0.1');
    node.nextSync(T);
    node.answered(fromResponse(answer({ pods: [pod('a'), pod('b')], podVersions: ['va', 'vb'] })), T);
    const named = body(node, T + 1);

    // act: b changed (new version), a deleted, c added
    node.answered(
      fromResponse(
        answer({
          podsDiff: {
            pods: [pod('b', { labels: { x: 'y' } }), pod('c')],
            versions: ['vb2', 'vc'],
            removed: ['va', 'vb'],
          },
        }),
      ),
      T + 2,
    );
    const after = body(node, T + 3);
    node.failed(true);
    const refused = body(node, T + 4);

    // assess
    expect(named.req.heldPods).toEqual(['va', 'vb']);
    expect(node.view().map((p) => p.uid)).toEqual(['uid-b', 'uid-c']);
    expect(after.req.heldPods).toEqual(['vb2', 'vc']);
    // b was not restarted by its new version: its start was reported once, in the sync after it arrived.
    expect(after.req.podStatuses?.map((s) => s.pod.name)).toEqual(['c']);
    expect(refused.req.heldPods).toBeUndefined();
    expect(refused.req.versions).toEqual(VERSIONS);
  });

  it('names no pod versions to a server that gave none, nor after its ten-minute full resync', () => {
    // prepare
    const old = new LightNode('n1', '10.0.0.1');
    const node = new LightNode('n2', '10.0.0.2');
    old.nextSync(T);
    old.answered(fromResponse(answer({ pods: [pod('a')] })), T);
    node.nextSync(T);
    node.answered(fromResponse(answer({ pods: [pod('a')], podVersions: ['va'] })), T);

    // act
    const toOld = body(old, T + 1);
    const resync = body(node, T + 10 * 60_000 + 1);

    // assess
    expect(toOld.req.heldPods).toBeUndefined();
    expect(resync.req.versions).toEqual({ routes: '3', ingress: '' });
    expect(resync.req.heldPods).toBeUndefined();
  });

  it('asks for its pods, config and logs whole every ten minutes, keeping the routes and ingress it holds', () => {
    // prepare
    const node = new LightNode('n1', '10.0.0.1');
    node.nextSync(T);
    node.answered(fromResponse(answer()), T);

    // act
    const later = body(node, T + 10 * 60_000 + 1);

    // assess
    expect(later.req.versions).toEqual({ routes: '3', ingress: '' });
  });
});

describe('light simulated node and beats', () => {
  it('holds quiet syncs streaming beats as the server offers, and plain 5 s holds for a while after one went unhonoured', () => {
    // prepare
    const node = new LightNode('n1', '10.0.0.1');
    node.nextSync(T);
    node.answered(fromResponse(answer({ beats: { everySeconds: 2, holdSeconds: 20 } })), T);

    // act
    const offered = body(node, T + 1);
    node.beatsRefused(T + 2);
    const refused = body(node, T + 3);

    // assess
    expect(offered.waitSeconds).toBe(20);
    expect(offered.req.waitSeconds).toBe(20);
    expect(offered.beats).toEqual({ everySeconds: 2, holdSeconds: 20 });
    expect(refused.waitSeconds).toBe(SYNC_WAIT_SECONDS);
    expect(refused.beats).toBeUndefined();
    // The server saw the call dropped: the next sync renews the Lease.
    expect(refused.req.leaseRenewedAt).toBeUndefined();
  });
});

describe('reading a sync answer', () => {
  const encode = (res: unknown, split = 0) => {
    const bytes = Buffer.from(JSON.stringify(res));
    return new Answer(200, split > 0 ? [bytes.subarray(0, split), bytes.subarray(split)] : [bytes]);
  };

  it('reads versions, intervals and the poll interval from the head and tail as parsing whole does', () => {
    // prepare: a large routes section, the answer split in two chunks mid-head
    const routes = {
      full: true,
      services: Array.from({ length: 200 }, (_, i) => ({ namespace: 'default', name: `s${i}`, ports: [], pods: [] })),
    };
    const res = { ...answer({ routes }), syncAfterSeconds: 2.5 };

    // act
    const read = readSyncAnswer(encode(res, 17));

    // assess
    expect(read.parsed).toBe(false);
    expect(read.answer).toEqual(fromResponse(res));
  });

  it('cuts the pods out of an answer without parsing the routes after them, brackets and quotes in strings included', () => {
    // prepare: a pod whose annotation holds what a bracket matcher could trip on
    const tricky = pod('a', { annotations: { note: '] } [ { \\" ünï "' } });
    const res = answer({ pods: [tricky, pod('b')], routes: { full: true, services: [] } });

    // act
    const read = readSyncAnswer(encode(res, 40));

    // assess
    expect(read.parsed).toBe(false);
    expect(read.answer).toEqual(fromResponse(res));
  });

  it('reads the reconnect spread from the head, before the pods, as parsing whole does', () => {
    // prepare: the server's order (functions/api/agent/sync.ts): the spread right after the Lease
    const res = answer({ reconnectSpreadSeconds: 4.5, pods: [pod('a')], routes: { full: true, services: [] } });

    // act
    const read = readSyncAnswer(encode(res, 30));

    // assess
    expect(read.parsed).toBe(false);
    expect(read.answer).toEqual(fromResponse(res));
    expect(read.answer.reconnectSpreadSeconds).toBe(4.5);
  });

  it('reads a full pods section with its versions, and a pods diff, as parsing whole does', () => {
    // prepare
    const routes = { full: true, services: [{ namespace: 'default', name: 's', ports: [], pods: [] }] };
    const full = answer({ pods: [pod('a'), pod('b')], podVersions: ['va', 'vb'], routes } as Partial<SyncResponse>);
    const diff = answer({ podsDiff: { pods: [pod('c')], versions: ['vc'], removed: ['va'] }, routes });

    // act
    const readFull = readSyncAnswer(encode(full, 50));
    const readDiff = readSyncAnswer(encode(diff, 50));

    // assess
    expect(readFull.parsed).toBe(false);
    expect(readFull.answer).toEqual(fromResponse(full));
    expect(readDiff.parsed).toBe(false);
    expect(readDiff.answer).toEqual(fromResponse(diff));
  });

  it('reads the beats offer from the head, before the pods, as parsing whole does', () => {
    // prepare: the server's order (functions/api/agent/sync.ts): the offer after the spread
    const beats = { everySeconds: 2, holdSeconds: 20 };
    const res = answer({ reconnectSpreadSeconds: 1, beats, pods: [pod('a')], routes: { full: true, services: [] } });

    // act
    const read = readSyncAnswer(encode(res, 30));

    // assess
    expect(read.parsed).toBe(false);
    expect(read.answer).toEqual(fromResponse(res));
    expect(read.answer.beats).toEqual(beats);
    expect(read.answer.pods).toHaveLength(1);
  });

  it('parses whole an answer whose keys come in another order', () => {
    // prepare
    const reordered = { leaseRenewedAt: T, versions: VERSIONS, nodeStatusUpdateSeconds: 300, pods: [pod('a')] };

    // act
    const read = readSyncAnswer(encode(reordered));

    // assess
    expect(read).toEqual({ answer: fromResponse(reordered as SyncResponse), parsed: true });
  });

  it('echoes versions holding quotes, braces and unicode as they were sent', () => {
    // prepare: versions the server echoes back from an agent (it answers what it was sent)
    const odd = { ...VERSIONS, pods: 'a"b\\c', logs: 'ünï', routes: '999999' };
    const braced = { ...VERSIONS, config: '{"x":1}' };

    // act
    const read = readSyncAnswer(encode(answer({ versions: odd })));
    const fallback = readSyncAnswer(encode(answer({ versions: braced })));

    // assess
    expect(read.answer.versions).toEqual(odd);
    expect(read.answer.versionsJson).toBe(JSON.stringify(odd));
    expect(fallback.parsed).toBe(true);
    expect(JSON.parse(fallback.answer.versionsJson)).toEqual(braced);
  });
});
