/** kubectl's Pod columns with init containers and native sidecars: STATUS while initializing, READY counting sidecars. */
import { describe, expect, it } from 'vitest';
import { COLUMNS, podStatus } from '../../../schemas/printers/columns';

const spec = {
  initContainers: [{ name: 'migrate' }, { name: 'proxy', restartPolicy: 'Always' }],
  containers: [{ name: 'app' }],
};
const status = (init: unknown[], app: unknown[], initialized: boolean) => ({
  metadata: { name: 'p', creationTimestamp: '2026-01-01T00:00:00Z' },
  spec,
  status: {
    phase: initialized ? 'Running' : 'Pending',
    conditions: [{ type: 'Initialized', status: initialized ? 'True' : 'False' }],
    initContainerStatuses: init,
    containerStatuses: app,
  },
});
const waitingApp = [{ name: 'app', ready: false, state: { waiting: { reason: 'PodInitializing' } } }];

describe('Pod columns with init containers', () => {
  it('shows Init:0/2 while the first init container runs, and its waiting reason when it crash-loops', () => {
    const running = [
      { name: 'migrate', state: { running: {} } },
      { name: 'proxy', state: { waiting: { reason: 'PodInitializing' } } },
    ];
    const looping = [{ name: 'migrate', state: { waiting: { reason: 'CrashLoopBackOff' } } }];
    expect(podStatus(status(running, waitingApp, false))).toBe('Init:0/2');
    expect(podStatus(status(looping, waitingApp, false))).toBe('Init:CrashLoopBackOff');
  });

  it('shows Init:Error for a failed init container, and Init:1/2 while a sidecar has not started', () => {
    const failed = [{ name: 'migrate', state: { terminated: { exitCode: 1, reason: 'Error' } } }];
    const sidecarStarting = [
      { name: 'migrate', state: { terminated: { exitCode: 0, reason: 'Completed' } } },
      { name: 'proxy', started: false, state: { running: {} } },
    ];
    expect(podStatus(status(failed, waitingApp, false))).toBe('Init:Error');
    expect(podStatus(status(sidecarStarting, waitingApp, false))).toBe('Init:1/2');
  });

  it('counts a ready sidecar in READY and shows Running once initialized', () => {
    const init = [
      { name: 'migrate', ready: false, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
      { name: 'proxy', ready: true, started: true, state: { running: {} } },
    ];
    const app = [{ name: 'app', ready: true, restartCount: 0, state: { running: {} } }];
    const row = COLUMNS.Pod?.row(status(init, app, true), Date.parse('2026-01-01T00:01:00Z'));
    expect(row?.slice(0, 3)).toEqual(['p', '2/2', 'Running']);
  });
});
