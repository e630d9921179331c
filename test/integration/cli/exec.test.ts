/**
 * `ferry exec` and `ferry logs -f`/`--since`/`--timestamps` in-process against a local plane, the
 * node played by the agent's own session code over a fake runtime (test/helpers/stream-node.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../../schemas';
import { type StreamNode, startStreamNode } from '../../helpers/stream-node';
import { startTestPlane, type TestPlane } from './harness';

describe('ferry exec and ferry logs -f', () => {
  let t: TestPlane;
  let node: StreamNode;
  let uid: string;

  beforeAll(async () => {
    t = await startTestPlane();
    node = await startStreamNode(t.plane.deps, t.plane.store, t.url, 'n1');
    const created = (await t.plane.store.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'box', namespace: 'default', uid: 'uid-box' },
      spec: { nodeName: 'n1', containers: [{ name: 'main', image: 'x' }] },
      status: { phase: 'Running' },
    })) as Pod;
    uid = created.metadata.uid as string;
  });

  afterAll(async () => {
    node?.stop();
    await t?.close();
  });

  it("prints the command's output and exits with its exit code", async () => {
    // act
    const ok = await t.ferry(['exec', 'box', '--', 'echo', 'hi there']);
    const three = await t.ferry(['exec', 'box', '--', 'sh', '-c', 'exit 3']);

    // assess
    expect(ok).toEqual({ code: 0, stdout: 'hi there\n', stderr: '' });
    expect(three.code).toBe(3);
    expect(three.stderr).toBe('command terminated with exit code 3\n');
  });

  it('sends stdin with -i and ends it, so cat finishes', async () => {
    // act
    const res = await t.ferry(['exec', '-i', 'box', '--', 'cat'], { stdin: 'from stdin\n' });

    // assess
    expect(res).toEqual({ code: 0, stdout: 'from stdin\n', stderr: '' });
  });

  it('warns and runs without a TTY when -t is given and stdin is not a terminal', async () => {
    // act
    const res = await t.ferry(['exec', '-t', 'box', '--', 'echo', 'plain']);

    // assess
    expect(res.code).toBe(0);
    expect(res.stderr).toContain('Unable to use a TTY');
    expect(res.stdout).toBe('plain\n');
  });

  it("refuses an unknown container with the server's message", async () => {
    // act
    const res = await t.ferry(['exec', '-c', 'nope', 'box', '--', 'ls']);

    // assess
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('error: container nope is not valid for pod box\n');
  });

  it('follows the output with logs -f until the container stops, and passes --since and --timestamps', async () => {
    // prepare
    const id = node.containerOf(uid, 'main');
    node.runtime.print(id, 'one\n');
    const streams = () => node.runtime.calls.filter((c) => c.call === 'logStream');

    // act
    const since = await t.ferry(['logs', 'box', '--since', '1m30s', '--timestamps']);
    const follow = t.ferry(['logs', '-f', 'box']);
    for (let i = 0; i < 100 && streams().length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    node.runtime.print(id, 'two\n');
    await new Promise((r) => setTimeout(r, 100));
    node.runtime.exit(id, 0);
    const followed = await follow;
    const badSince = await t.ferry(['logs', 'box', '--since', 'yesterday']);

    // assess
    expect(since.code, since.stderr).toBe(0);
    expect(since.stdout).toMatch(/^\S+Z one\n$/);
    expect(JSON.parse(streams()[0]?.detail ?? '{}')).toMatchObject({ follow: false, timestamps: true });
    expect(followed).toEqual({ code: 0, stdout: 'one\ntwo\n', stderr: '' });
    expect(badSince.code).toBe(2);
    expect(badSince.stderr).toContain('--since must be a duration');
  });
});
