/**
 * The pod manager over the in-memory runtime with failure injection: init containers in order
 * and their statuses, native sidecars, a changed definition, back-off after failed starts and
 * pulls, probes gating and killing, lifecycle hooks.
 */
import { describe, expect, it } from 'vitest';
import { podStatus } from '../../../schemas/printers/columns';
import { condition, pod, startManager, statusOf, until } from './pod-harness';

const starts = (runtime: { calls: { call: string; detail?: string }[] }) =>
  runtime.calls.filter((c) => c.call === 'startContainer').map((c) => c.detail);

describe('init containers and sidecars', () => {
  it('runs init containers one at a time to success before the app, reporting Init:N/M until then', async () => {
    // prepare
    const { m, runtime } = await startManager();
    const p = pod({
      initContainers: [
        { name: 'migrate', image: 'img' },
        { name: 'seed', image: 'img' },
      ],
    });

    // act
    m.setDesired([p]);
    await until(() => runtime.byName('migrate') !== undefined, 'migrate to start');
    const whileFirst = { status: statusOf(m), starts: starts(runtime) };
    runtime.exit(runtime.byName('migrate')?.id as string, 0);
    await until(() => runtime.byName('seed') !== undefined, 'seed to start');
    const whileSecond = podStatus({ ...p, status: statusOf(m) });
    runtime.exit(runtime.byName('seed')?.id as string, 0);
    await until(() => runtime.byName('app') !== undefined, 'app to start');
    await until(() => condition(m, 'Ready') === 'True', 'the pod Ready');

    // assess
    expect(whileFirst.starts).toEqual(['migrate']);
    expect(whileFirst.status.phase).toBe('Pending');
    expect(whileFirst.status.conditions?.find((c) => c.type === 'Initialized')).toMatchObject({
      status: 'False',
      reason: 'ContainersNotInitialized',
    });
    expect(podStatus({ ...p, status: whileFirst.status })).toBe('Init:0/2');
    expect(whileFirst.status.containerStatuses?.[0]?.state).toEqual({ waiting: { reason: 'PodInitializing' } });
    expect(whileSecond).toBe('Init:1/2');
    expect(starts(runtime)).toEqual(['migrate', 'seed', 'app']);
    expect(condition(m, 'Initialized')).toBe('True');
    expect(statusOf(m).initContainerStatuses?.map((s) => s.state.terminated?.reason)).toEqual([
      'Completed',
      'Completed',
    ]);
  });

  it('backs off a failing init container (Init:CrashLoopBackOff) and never starts the app meanwhile', async () => {
    // prepare
    const { m, runtime } = await startManager({ backoffBaseMs: 60_000 });
    const p = pod({ initContainers: [{ name: 'migrate', image: 'img' }] });
    m.setDesired([p]);
    await until(() => runtime.byName('migrate') !== undefined, 'migrate');

    // act: it fails twice; the first restart is immediate, the second waits the back-off
    runtime.exit(runtime.byName('migrate')?.id as string, 1);
    await until(() => starts(runtime).length === 2, 'the immediate restart');
    runtime.exit(runtime.byName('migrate')?.id as string, 1);
    await until(() => podStatus({ ...p, status: statusOf(m) }) === 'Init:CrashLoopBackOff', 'Init:CrashLoopBackOff');

    // assess
    expect(starts(runtime)).toEqual(['migrate', 'migrate']);
    expect(statusOf(m).initContainerStatuses?.[0]?.restartCount).toBe(1);
    expect(statusOf(m).phase).toBe('Pending');
  });

  it('fails the pod (Init:Error) when an init container fails under restartPolicy Never', async () => {
    // prepare
    const { m, runtime } = await startManager();
    const p = pod({ restartPolicy: 'Never', initContainers: [{ name: 'migrate', image: 'img' }] });
    m.setDesired([p]);
    await until(() => runtime.byName('migrate') !== undefined, 'migrate');

    // act
    runtime.exit(runtime.byName('migrate')?.id as string, 3);
    await until(() => statusOf(m).phase === 'Failed', 'the pod Failed');

    // assess
    expect(podStatus({ ...p, status: statusOf(m) })).toBe('Init:Error');
    expect(starts(runtime)).toEqual(['migrate']);
    expect([...runtime.containers.values()].filter((c) => c.role === 'sandbox')).toEqual([]);
  });

  it('starts a native sidecar before the app, restarts it when it exits, and stops it after the app', async () => {
    // prepare
    const { m, runtime } = await startManager();
    const p = pod({
      restartPolicy: 'Never',
      initContainers: [{ name: 'proxy', image: 'img', restartPolicy: 'Always' }],
    });
    m.setDesired([p]);
    await until(() => runtime.byName('app') !== undefined, 'app');

    // act
    runtime.exit(runtime.byName('proxy')?.id as string, 0);
    await until(() => starts(runtime).length === 3, 'the sidecar restarted');
    await until(() => statusOf(m).initContainerStatuses?.[0]?.ready === true, 'the sidecar ready');
    const ready = podStatus({ ...p, status: statusOf(m) });
    runtime.exit(runtime.byName('app')?.id as string, 0);
    await until(() => statusOf(m).phase === 'Succeeded', 'the pod Succeeded');

    // assess
    expect(starts(runtime)).toEqual(['proxy', 'app', 'proxy']);
    expect(ready).toBe('Running');
    const stops = runtime.calls.filter((c) => c.call === 'stopAndRemove').map((c) => c.detail?.split(' ')[0]);
    expect(stops).toEqual(['proxy', 'app', 'proxy', 'sandbox']);
  });
});

describe('a changed container definition', () => {
  it('replaces the running container when its image changes, counting a restart', async () => {
    // prepare
    const { m, runtime } = await startManager();
    m.setDesired([pod({})]);
    await until(() => runtime.byName('app') !== undefined, 'app');
    const first = runtime.byName('app')?.id;

    // act
    m.setDesired([pod({ containers: [{ name: 'app', image: 'img:2' }] })]);
    await until(() => runtime.byName('app')?.config?.image === 'img:2', 'the new image');

    // assess
    expect(runtime.containers.has(first as string)).toBe(false);
    expect(runtime.byName('app')?.restartCount).toBe(1);
    await until(() => statusOf(m).containerStatuses?.[0]?.restartCount === 1, 'the restart reported');
  });
});

describe('failure injection', () => {
  it('reports RunContainerError when a start fails, and starts the container after the back-off', async () => {
    // prepare: RunContainerError shows for one back-off, 1 s: a 150 ms one ended unseen by the
    // 15 ms polls while a busy machine held this process back
    const { m, runtime } = await startManager({ backoffBaseMs: 1_000 });
    runtime.failNext('startContainer', new Error('engine said no'));

    // act
    m.setDesired([pod({})]);
    await until(
      () => statusOf(m).containerStatuses?.[0]?.state.waiting?.reason === 'RunContainerError',
      'RunContainerError',
    );
    await until(() => runtime.byName('app') !== undefined, 'the retried start');

    // assess
    expect(runtime.calls.map((c) => c.call)).toContain('startContainer failed');
  });

  it('reports ErrImagePull then ImagePullBackOff when pulls fail, and runs once a pull works', async () => {
    // prepare
    const { m, runtime } = await startManager({ backoffBaseMs: 100 });
    runtime.failNext('ensureImage');
    runtime.failNext('ensureImage');
    const reasons = new Set<string>();

    // act
    m.setDesired([pod({})]);
    await until(() => {
      const r = statusOf(m).containerStatuses?.[0]?.state.waiting?.reason;
      if (r) reasons.add(r);
      return runtime.byName('app') !== undefined;
    }, 'the container after two failed pulls');

    // assess
    expect(reasons).toContain('ErrImagePull');
    expect(reasons).toContain('ImagePullBackOff');
    expect(runtime.pulls.length).toBe(3);
  });

  it('retries the sandbox when its creation fails, saying why in the pod status', async () => {
    // prepare
    const { m, runtime } = await startManager();
    runtime.failNext('createSandbox', new Error('no address left'));

    // act
    m.setDesired([pod({})]);
    await until(() => statusOf(m).reason === 'SandboxCreateFailed', 'the sandbox failure reported');
    await until(() => runtime.byName('app') !== undefined, 'the app after a retried sandbox');

    // assess
    expect(runtime.calls.filter((c) => c.call === 'createSandbox')).toHaveLength(1);
  });

  it('restarts a container that exits under restartPolicy Always, backing off the second time (CrashLoopBackOff)', async () => {
    // prepare
    const { m, runtime } = await startManager({ backoffBaseMs: 60_000 });
    m.setDesired([pod({})]);
    await until(() => runtime.byName('app') !== undefined, 'app');

    // act
    runtime.exit(runtime.byName('app')?.id as string, 2);
    await until(() => starts(runtime).length === 2, 'the immediate restart');
    runtime.exit(runtime.byName('app')?.id as string, 2);
    await until(
      () => statusOf(m).containerStatuses?.[0]?.state.waiting?.reason === 'CrashLoopBackOff',
      'CrashLoopBackOff',
    );

    // assess
    expect(statusOf(m).containerStatuses?.[0]?.restartCount).toBe(1);
    expect(statusOf(m).containerStatuses?.[0]).toMatchObject({
      lastState: { terminated: { exitCode: 2, reason: 'Error' } },
    });
  });
});

describe('probes and hooks', () => {
  it('keeps liveness and readiness off until the startup probe passes, then the container is Ready', async () => {
    // prepare
    const { m, runtime } = await startManager();
    runtime.execResults.set('starting', 1);
    const probe = (cmd: string) => ({ exec: { command: [cmd] }, periodSeconds: 1, failureThreshold: 30 });

    // act
    m.setDesired([
      pod({
        containers: [{ name: 'app', image: 'img', startupProbe: probe('starting'), readinessProbe: probe('ready') }],
      }),
    ]);
    await until(() => runtime.calls.some((c) => c.detail === 'starting'), 'a startup probe');
    await new Promise((r) => setTimeout(r, 150));
    const before = runtime.calls.filter((c) => c.detail === 'ready').length;
    const startedBefore = statusOf(m).containerStatuses?.[0]?.started;
    runtime.execResults.set('starting', 0);
    await until(() => condition(m, 'Ready') === 'True', 'Ready', 4000);

    // assess
    expect(before).toBe(0);
    expect(startedBefore).toBe(false);
    expect(statusOf(m).containerStatuses?.[0]?.started).toBe(true);
  });

  it('kills and restarts a container whose startup probe fails failureThreshold times', async () => {
    // prepare
    const { m, runtime } = await startManager();
    runtime.execResults.set('check', 1);

    // act
    m.setDesired([
      pod({
        containers: [
          {
            name: 'app',
            image: 'img',
            startupProbe: {
              exec: { command: ['check'] },
              periodSeconds: 1,
              failureThreshold: 1,
              terminationGracePeriodSeconds: 1,
            },
          },
        ],
      }),
    ]);
    await until(() => starts(runtime).length === 2, 'the restart');

    // assess
    const stop = runtime.calls.find((c) => c.call === 'stopAndRemove');
    expect(stop?.detail).toBe('app 1'); // the probe's own grace period, not the pod's 5 s
    await until(() => (statusOf(m).containerStatuses?.[0]?.restartCount ?? 0) >= 1, 'the restart counted');
  });

  it('kills a container whose postStart hook fails, and restarts it', async () => {
    // prepare
    const { m, runtime } = await startManager();
    runtime.execResults.set('boom', 1);

    // act
    m.setDesired([
      pod({ containers: [{ name: 'app', image: 'img', lifecycle: { postStart: { exec: { command: ['boom'] } } } }] }),
    ]);
    await until(() => starts(runtime).length >= 2, 'the restart after the failed hook');

    // assess
    expect(runtime.calls.filter((c) => c.call === 'stopAndRemove').length).toBeGreaterThanOrEqual(1);
  });

  it('runs the preStop hook before the SIGTERM of a deleted pod', async () => {
    // prepare
    const { m, runtime } = await startManager();
    const p = pod({
      containers: [{ name: 'app', image: 'img', lifecycle: { preStop: { exec: { command: ['drain-me'] } } } }],
    });
    m.setDesired([p]);
    await until(() => runtime.byName('app') !== undefined, 'app');

    // act
    m.setDesired([{ ...p, metadata: { ...p.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } }]);
    await until(() => m.terminated().length === 1, 'the pod terminated');

    // assess
    const order = runtime.calls
      .filter((c) => c.detail === 'drain-me' || c.call === 'stopAndRemove')
      .map((c) => c.detail);
    expect(order[0]).toBe('drain-me');
    expect(order[1]?.startsWith('app ')).toBe(true);
  });
});
