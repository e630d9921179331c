/**
 * `ferry logs`: picks a Deployment's pod, passes container/tail/previous through, and prints the
 * node's answer as is. The node is played by answering each LogRequest the way the agent does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerLogRequest, LOG_REQUEST_KIND } from '../../../functions/api/pod-logs';
import type { LogRequestRef } from '../../../schemas/agent-protocol';
import { startTestPlane, type TestPlane } from './harness';

describe('ferry logs', () => {
  let t: TestPlane;
  const seen: unknown[] = [];
  let unwatch: () => void;

  beforeAll(async () => {
    t = await startTestPlane();
    const { store } = t.plane;
    unwatch = store.watch((ev) => {
      if (ev.object.kind !== LOG_REQUEST_KIND || ev.type !== 'ADDED') return;
      const spec = ev.object.spec as Omit<LogRequestRef, 'namespace' | 'name'> & { nodeName: string };
      seen.push(spec);
      void answerLogRequest(t.plane.deps, spec.nodeName, {
        namespace: ev.object.metadata.namespace as string,
        name: ev.object.metadata.name,
        content: `${spec.pod.name}/${spec.container} tail=${spec.tailLines} previous=${spec.previous}\n`,
      });
    });
    for (const [name, phase, created] of [
      ['web-old', 'Running', '2026-01-01T00:00:00Z'],
      ['web-new', 'Running', '2026-01-02T00:00:00Z'],
      ['web-pending', 'Pending', '2026-01-03T00:00:00Z'],
    ] as const) {
      await store.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default', labels: { app: 'web' }, creationTimestamp: created },
        spec: { nodeName: 'n1', containers: [{ name: 'httpd', image: 'x' }] },
        status: { phase },
      });
    }
    await t.ferry(['apply', '-f', '-'], {
      stdin: `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: httpd, image: x}]}
`,
    });
  });

  afterAll(async () => {
    unwatch?.();
    await t?.close();
  });

  it('prints the output of the newest running pod of a deployment, naming it on stderr', async () => {
    // act
    const res = await t.ferry(['logs', 'deployment/web', '--tail', '5', '-p']);

    // assess
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('web-new/httpd tail=5 previous=true\n');
    expect(res.stderr).toContain('Found 3 pods, using pod/web-new');
  });

  it('reads a named pod and container', async () => {
    // act
    const res = await t.ferry(['logs', 'web-old', '-c', 'httpd']);

    // assess
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('web-old/httpd tail=10000 previous=false\n');
  });

  it('fails with one clear line for a bad flag or container, asking the node nothing', async () => {
    // prepare
    const before = seen.length;

    // act
    const badTail = await t.ferry(['logs', 'web-old', '--tail', 'ten']);
    const badContainer = await t.ferry(['logs', 'web-old', '-c', 'db']);

    // assess
    expect(badTail.code).not.toBe(0);
    expect(badTail.stderr).toMatch(/--tail must be a whole number/);
    expect(badContainer.code).not.toBe(0);
    expect(badContainer.stderr).toMatch(/container db is not valid for pod web-old/);
    expect(seen.length).toBe(before);
  });
});
