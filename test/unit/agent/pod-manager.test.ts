/**
 * The pod manager against the in-memory runtime: what a container is started with, and when a
 * terminating pod is stopped relative to the service proxy dropping it.
 */

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PodManager } from '../../../agent/pods/manager';
import { FakeRuntime } from '../../../agent/runtime/fake';

const log = { debug() {}, info() {}, warn() {}, error() {} } as never;
const managers: PodManager[] = [];

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.stop()));
});

function pod(extra: { deletionTimestamp?: string } = {}) {
  return {
    metadata: { name: 'web-1', namespace: 'default', uid: 'uid-1', labels: { app: 'web' }, ...extra },
    spec: {
      nodeName: 'n1',
      terminationGracePeriodSeconds: 30,
      containers: [
        {
          name: 'app',
          image: 'x',
          ports: [{ containerPort: 8080 }],
          env: [
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
            { name: 'WEB_SERVICE_PORT', value: 'mine' },
          ],
        },
      ],
    },
  };
}

type Options = Partial<ConstructorParameters<typeof PodManager>[1]>;

/** A started manager over `runtime` on node 127.0.1.1, ticking every 50 ms. */
async function startManager(runtime: FakeRuntime, options: Options = {}): Promise<PodManager> {
  const m = new PodManager(runtime, {
    nodeIp: '127.0.1.1',
    stateDir: mkdtempSync(join(tmpdir(), 'ferry-pm-')),
    log,
    tickMs: 50,
    ...options,
  });
  managers.push(m);
  await m.start();
  return m;
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('pod manager', () => {
  it('starts containers with Service variables and downward-API fields, the container env winning', async () => {
    // prepare
    const runtime = new FakeRuntime();
    const m = await startManager(runtime, {
      serviceEnv: (ns) =>
        ns === 'default'
          ? [
              { name: 'WEB_SERVICE_HOST', value: '10.99.0.1' },
              { name: 'WEB_SERVICE_PORT', value: '30080' },
            ]
          : [],
    });

    // act
    m.setDesired([pod()]);
    await until(() => [...runtime.containers.values()].some((c) => c.role === 'container'));

    // assess
    const app = [...runtime.containers.values()].find((c) => c.role === 'container');
    expect(Object.fromEntries(app?.env.map((e) => [e.name, e.value]) ?? [])).toEqual({
      WEB_SERVICE_HOST: '10.99.0.1',
      WEB_SERVICE_PORT: 'mine',
      POD_NAME: 'web-1',
      NODE: 'n1',
      APP: 'web',
    });
  });

  it('stops a terminating pod only after the proxy no longer routes to it, plus the settle time', async () => {
    // prepare
    const runtime = new FakeRuntime();
    let routed = true;
    let droppedAt = 0;
    const m = await startManager(runtime, {
      routesTo: (ip, port) => routed && ip === '127.0.1.1' && port === 40000,
      drainSettleMs: 300,
    });
    m.setDesired([pod()]);
    await until(() => runtime.calls.some((c) => c.call === 'startContainer'));

    // act
    m.setDesired([pod({ deletionTimestamp: '2026-01-01T00:00:00Z' })]);
    setTimeout(() => {
      routed = false;
      droppedAt = Date.now();
    }, 400);
    await until(() => m.terminated().length === 1);

    // assess
    const firstStop = runtime.calls.find((c) => c.call === 'stopAndRemove');
    expect(droppedAt).toBeGreaterThan(0);
    expect(firstStop?.at).toBeGreaterThanOrEqual(droppedAt + 250);
  });

  it('takes a terminating pod’s host ports out of the cluster IP rules, and waits for it, before stopping anything', async () => {
    // prepare
    const runtime = new FakeRuntime();
    const withdrawn: number[][] = [];
    let withdrawnAt = 0;
    const m = await startManager(runtime, {
      routesTo: () => false,
      drainSettleMs: 0,
      withdraw: async (ports) => {
        withdrawn.push(ports);
        await new Promise((r) => setTimeout(r, 200));
        withdrawnAt = Date.now();
      },
    });
    m.setDesired([pod()]);
    await until(() => runtime.calls.some((c) => c.call === 'startContainer'));

    // act
    m.setDesired([pod({ deletionTimestamp: '2026-01-01T00:00:00Z' })]);
    await until(() => m.terminated().length === 1);

    // assess
    const firstStop = runtime.calls.find((c) => c.call === 'stopAndRemove');
    expect(withdrawn).toEqual([[40000]]);
    expect(firstStop?.at).toBeGreaterThanOrEqual(withdrawnAt);
  });

  it('does not hold a pod longer than the drain timeout when the proxy keeps routing to it', async () => {
    // prepare
    const runtime = new FakeRuntime();
    const m = await startManager(runtime, {
      routesTo: () => true,
      drainTimeoutMs: 300,
    });
    m.setDesired([pod()]);
    await until(() => runtime.calls.some((c) => c.call === 'startContainer'));

    // act
    const deletedAt = Date.now();
    m.setDesired([pod({ deletionTimestamp: '2026-01-01T00:00:00Z' })]);
    await until(() => m.terminated().length === 1);

    // assess
    const stoppedAt = runtime.calls.find((c) => c.call === 'stopAndRemove')?.at ?? 0;
    expect(stoppedAt - deletedAt).toBeGreaterThanOrEqual(250);
    expect(stoppedAt - deletedAt).toBeLessThan(2000);
  });

  it('answers log requests from the running container, and from exited instances after they are removed', async () => {
    // prepare
    const runtime = new FakeRuntime();
    const m = await startManager(runtime, { backoffBaseMs: 50 });
    m.setDesired([pod()]);
    await until(() => [...runtime.containers.values()].some((c) => c.role === 'container'));
    const first = [...runtime.containers.values()].find((c) => c.role === 'container');
    if (!first) throw new Error('no container');
    first.output = 'one\ntwo\nthree\n';
    const req = {
      namespace: 'default',
      name: 'r',
      pod: { namespace: 'default', name: 'web-1', uid: 'uid-1' },
      container: 'app',
      previous: false,
      tailLines: 2,
      limitBytes: 1024,
    };

    // act
    const running = await m.logs(req);
    const noPrevious = await m.logs({ ...req, previous: true });
    first.running = false; // it exits; the manager keeps its output, removes it and starts another
    await until(() => [...runtime.containers.values()].some((c) => c.role === 'container' && c.id !== first.id));
    const previous = await m.logs({ ...req, previous: true, tailLines: 10 });
    const unknown = await m.logs({ ...req, container: 'nope' });

    // assess
    expect(running).toEqual({ content: 'two\nthree\n' });
    expect(noPrevious).toEqual({ error: 'previous terminated container "app" in pod "web-1" not found' });
    expect(previous).toEqual({ content: 'one\ntwo\nthree\n' });
    expect(unknown).toEqual({ error: 'container "nope" in pod "web-1" is waiting to start' });
  });
});
