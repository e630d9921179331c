/**
 * computePodActions, the pod manager's pure "what next": init order, native sidecars, restart
 * policy and back-off, a changed definition, and when a pod is finished, without any runtime.
 */
import { describe, expect, it } from 'vitest';
import { computePodActions, type ObservedContainer, type PodAction } from '../../../agent/pods/actions';
import type { Pod } from '../../../schemas/pod';

type Spec = Pod['spec'];
const c = (name: string, extra: Record<string, unknown> = {}) => ({ name, image: 'img', ...extra });
const NOW = 1_000_000;

const running = (extra: Partial<ObservedContainer> = {}): Partial<ObservedContainer> => ({
  instance: { running: true, specHash: 'h', exitCode: 0, ranForMs: 5000 },
  started: true,
  ...extra,
});
const exited = (exitCode: number, extra: Partial<ObservedContainer> = {}): Partial<ObservedContainer> => ({
  instance: { running: false, specHash: 'h', exitCode, ranForMs: 5000 },
  ...extra,
});
const succeeded: Partial<ObservedContainer> = { done: true, succeeded: true, ranBefore: true };

function plan(spec: Partial<Spec>, observed: Record<string, Partial<ObservedContainer>>, sandbox = true): PodAction[] {
  const base = {
    started: false,
    done: false,
    succeeded: false,
    ranBefore: false,
    nextStartAt: 0,
    consecutiveFailures: 0,
  };
  return computePodActions({ containers: [c('app')], ...spec } as Spec, {
    sandbox,
    containers: new Map(Object.entries(observed).map(([k, v]) => [k, { ...base, ...v }])),
    specHash: () => 'h',
    now: NOW,
    backoffBaseMs: 10_000,
  });
}

const kinds = (actions: PodAction[]) => actions.map((a) => ('container' in a ? `${a.type} ${a.container}` : a.type));

describe('computePodActions', () => {
  it('creates the sandbox, then starts only the first init container', () => {
    const actions = plan({ initContainers: [c('migrate'), c('seed')] }, {}, false);
    expect(kinds(actions)).toEqual(['createSandbox', 'start migrate']);
  });

  it('waits while an init container runs, and starts the next one once it succeeded', () => {
    const spec = { initContainers: [c('migrate'), c('seed')] };
    expect(kinds(plan(spec, { migrate: running() }))).toEqual([]);
    expect(kinds(plan(spec, { migrate: exited(0) }))).toEqual(['reap migrate', 'start seed']);
    expect(kinds(plan(spec, { migrate: succeeded, seed: succeeded }))).toEqual(['start app']);
  });

  it('restarts a failed init container after a back-off and starts no app container meanwhile', () => {
    const spec = { initContainers: [c('migrate')] };
    const first = plan(spec, { migrate: exited(1) });
    const again = plan(spec, { migrate: exited(1, { consecutiveFailures: 1 }) });
    expect(first).toEqual([
      { type: 'reap', container: 'migrate', exitCode: 1, restart: true, delayMs: 0, failures: 1 },
      { type: 'start', container: 'migrate' },
    ]);
    expect(again[0]).toMatchObject({ type: 'reap', restart: true, delayMs: 10_000, failures: 2 });
    expect(kinds(again)).toEqual(['reap migrate', 'backOff migrate']);
  });

  it('fails the pod when an init container fails and the restart policy is Never', () => {
    const actions = plan({ restartPolicy: 'Never', initContainers: [c('migrate')] }, { migrate: exited(2) });
    expect(actions).toEqual([
      { type: 'reap', container: 'migrate', exitCode: 2, restart: false, delayMs: 0, failures: 0 },
      { type: 'finish', failed: true },
    ]);
  });

  it('starts a native sidecar first and the next container only once the sidecar has started', () => {
    const spec = { initContainers: [c('proxy', { restartPolicy: 'Always' }), c('migrate')] };
    expect(kinds(plan(spec, {}))).toEqual(['start proxy']);
    expect(kinds(plan(spec, { proxy: running({ started: false }) }))).toEqual([]);
    expect(kinds(plan(spec, { proxy: running() }))).toEqual(['start migrate']);
    expect(kinds(plan(spec, { proxy: running(), migrate: succeeded }))).toEqual(['start app']);
  });

  it('restarts an exited sidecar even under restartPolicy Never, and keeps the app running', () => {
    const spec = { restartPolicy: 'Never' as const, initContainers: [c('proxy', { restartPolicy: 'Always' })] };
    const actions = plan(spec, { proxy: exited(0), app: running() });
    expect(kinds(actions)).toEqual(['reap proxy', 'start proxy']);
  });

  it('stops the sidecars, last first, once every app container is done, and finishes the pod', () => {
    const spec = {
      restartPolicy: 'Never' as const,
      initContainers: [c('a', { restartPolicy: 'Always' }), c('b', { restartPolicy: 'Always' })],
    };
    const actions = plan(spec, { a: running(), b: running(), app: exited(0) });
    expect(kinds(actions)).toEqual(['reap app', 'kill b', 'kill a', 'finish']);
    expect(actions.at(-1)).toEqual({ type: 'finish', failed: false });
  });

  it('replaces a running container whose definition changed, at once, whatever the restart policy', () => {
    const spec = { restartPolicy: 'Never' as const };
    const actions = computePodActions({ containers: [c('app')], ...spec } as Spec, {
      sandbox: true,
      containers: new Map([
        [
          'app',
          {
            ...running(),
            done: false,
            succeeded: false,
            ranBefore: true,
            nextStartAt: 0,
            consecutiveFailures: 0,
          } as ObservedContainer,
        ],
      ]),
      specHash: () => 'new',
      now: NOW,
    });
    expect(actions).toEqual([
      {
        type: 'kill',
        container: 'app',
        reason: 'SpecChanged',
        message: 'Container app definition changed, will be restarted',
      },
      { type: 'reap', container: 'app', exitCode: 137, restart: true, delayMs: 0, failures: 0 },
      { type: 'start', container: 'app' },
    ]);
  });

  it('kills an unhealthy container and restarts it by the restart policy', () => {
    const unhealthy = { reason: 'Unhealthy', message: 'Liveness probe failed: refused', graceSeconds: 5 };
    const always = plan({}, { app: running({ unhealthy }) });
    const never = plan({ restartPolicy: 'Never' }, { app: running({ unhealthy }) });
    expect(always).toEqual([
      { type: 'kill', container: 'app', ...unhealthy },
      { type: 'reap', container: 'app', exitCode: 137, restart: true, delayMs: 0, failures: 1 },
      { type: 'start', container: 'app' },
    ]);
    expect(kinds(never)).toEqual(['kill app', 'reap app', 'finish']);
    expect(never.at(-1)).toEqual({ type: 'finish', failed: true });
  });

  it('backs off an app container until its next start time', () => {
    const actions = plan({}, { app: { nextStartAt: NOW + 5000, ranBefore: true } });
    expect(kinds(actions)).toEqual(['backOff app']);
  });

  it('resets the back-off of a container that ran ten minutes before it exited', () => {
    const long = {
      instance: { running: false, specHash: 'h', exitCode: 1, ranForMs: 11 * 60_000 },
      consecutiveFailures: 6,
    };
    expect(plan({}, { app: long })[0]).toMatchObject({ type: 'reap', restart: true, delayMs: 0, failures: 1 });
  });

  it('does not run init containers again for a pod whose app container already ran (adopted after a restart)', () => {
    const spec = { initContainers: [c('migrate'), c('proxy', { restartPolicy: 'Always' })] };
    expect(kinds(plan(spec, { app: running() }))).toEqual(['start proxy']);
  });

  it('kills every running container, app first then sidecars, and fails the pod past activeDeadlineSeconds', () => {
    const spec = { initContainers: [c('proxy', { restartPolicy: 'Always' })] } as Partial<Spec>;
    const base = {
      started: true,
      done: false,
      succeeded: false,
      ranBefore: true,
      nextStartAt: 0,
      consecutiveFailures: 0,
    };
    const actions = computePodActions({ containers: [c('app')], ...spec } as Spec, {
      sandbox: true,
      containers: new Map([
        ['proxy', { ...base, ...running() } as ObservedContainer],
        ['app', { ...base, ...running() } as ObservedContainer],
      ]),
      specHash: () => 'h',
      now: NOW,
      deadlineExceeded: true,
    });
    expect(kinds(actions)).toEqual(['kill app', 'kill proxy', 'finish']);
    expect(actions[0]).toMatchObject({ reason: 'DeadlineExceeded' });
    expect(actions.at(-1)).toEqual({ type: 'finish', failed: true });
  });
});
