/**
 * Termination messages as the kubelet gives them, over the fake runtime: the file at
 * terminationMessagePath (default /dev/termination-log, writable by any user, emptied at each
 * start) becomes state.terminated.message; with FallbackToLogsOnError an empty file of a failed
 * container gives the last 80 lines, at most 2,048 bytes, of its output, and nothing on success.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FakeRuntime } from '../../../agent/runtime/fake';
import { pod as podOf, startManager, statusOf, until } from './pod-harness';

async function run(container: Record<string, unknown>) {
  const runtime = new FakeRuntime();
  const { m } = await startManager({}, runtime);
  m.setDesired([podOf({ restartPolicy: 'Never', containers: [{ name: 'app', image: 'img', ...container }] }) as never]);
  await until(() => [...runtime.containers.values()].some((c) => c.role === 'container' && c.running), 'the container');
  const app = [...runtime.containers.values()].find((c) => c.role === 'container');
  const path = (container.terminationMessagePath as string | undefined) ?? '/dev/termination-log';
  const mount = app?.config?.mounts.find((x) => x.mountPath === path);
  const exit = async (code: number) => {
    runtime.exit(app?.id as string, code);
    await until(() => statusOf(m).containerStatuses?.[0]?.state.terminated !== undefined, 'the exit');
    const terminated = statusOf(m).containerStatuses?.[0]?.state.terminated as { message?: string } | undefined;
    return terminated?.message;
  };
  return { runtime, app, mount, exit };
}

describe('termination messages on the node', () => {
  it('mounts an empty file any user may write at the default path and reports what the container wrote', async () => {
    // prepare
    const { mount, exit } = await run({});
    const hostPath = (mount as { hostPath: string }).hostPath;

    // act
    const before = readFileSync(hostPath, 'utf8');
    writeFileSync(hostPath, 'disk full on /data');
    const message = await exit(1);

    // assess
    expect(mount).toMatchObject({ kind: 'bind', readOnly: false });
    expect(before).toBe('');
    expect(statSync(hostPath).mode & 0o777).toBe(0o666);
    expect(message).toBe('disk full on /data');
  });

  it('honours a custom terminationMessagePath and keeps at most 4 KiB of the file', async () => {
    // prepare
    const { mount, exit } = await run({ terminationMessagePath: '/tmp/why' });

    // act
    writeFileSync((mount as { hostPath: string }).hostPath, 'x'.repeat(10_000));
    const message = await exit(0);

    // assess
    expect(mount).toBeDefined();
    expect(message).toHaveLength(4096);
  });

  it('falls back to the last 80 lines of output, at most 2,048 bytes, when a failed container wrote no file', async () => {
    // prepare
    const { runtime, app, exit } = await run({ terminationMessagePolicy: 'FallbackToLogsOnError' });
    runtime.print(app?.id as string, Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join(''));

    // act
    const message = await exit(2);

    // assess
    const lines = (message ?? '').split('\n').filter(Boolean);
    expect(lines).toHaveLength(80);
    expect(lines[0]).toBe('line 20');
    expect(lines.at(-1)).toBe('line 99');
  });

  it('cuts a long fallback to its last 2,048 bytes', async () => {
    // prepare
    const { runtime, app, exit } = await run({ terminationMessagePolicy: 'FallbackToLogsOnError' });
    runtime.print(app?.id as string, `${'y'.repeat(5000)}\npanic: boom\n`);

    // act
    const message = await exit(1);

    // assess
    expect(Buffer.byteLength(message ?? '')).toBe(2048);
    expect(message?.endsWith('panic: boom\n')).toBe(true);
  });

  it('gives no message from output when the container succeeded, or when the policy is File', async () => {
    // prepare
    const ok = await run({ terminationMessagePolicy: 'FallbackToLogsOnError' });
    ok.runtime.print(ok.app?.id as string, 'all good\n');
    const file = await run({});
    file.runtime.print(file.app?.id as string, 'crashed\n');

    // act
    const onSuccess = await ok.exit(0);
    const withFile = await file.exit(1);

    // assess
    expect(onSuccess).toBeUndefined();
    expect(withFile).toBeUndefined();
  });
});
