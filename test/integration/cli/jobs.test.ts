/**
 * Jobs from the CLI against a simulated cluster: `apply --wait` waits for a migration Job before the
 * Deployment and fails with the reason and the next command when the Job fails; `get jobs`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODE, RUN_MS } from '../sim/harness';
import { lines, type SimulatedNodes, startSimulatedNodes, startTestPlane, type TestPlane } from './harness';

function job(name: string, exitCode: number): string {
  return JSON.stringify({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      backoffLimit: 0, // fail at the first failure: no 10 s retry back-off in this test
      template: {
        metadata: { annotations: { [RUN_MS]: '300', [EXIT_CODE]: String(exitCode) } },
        spec: { restartPolicy: 'Never', containers: [{ name: 'migrate', image: 'ferry.local/busybox:1' }] },
      },
    },
  });
}

describe('ferry and Jobs against a simulated cluster', () => {
  let t: TestPlane;
  let nodes: SimulatedNodes;

  beforeAll(async () => {
    t = await startTestPlane({ controllers: true, resyncMs: 500 });
    nodes = await startSimulatedNodes(t, ['node-1', 'node-2'], { cpu: '2' });
  });

  afterAll(async () => {
    nodes?.stop();
    await t?.close();
  });

  it('apply --wait returns 0 once the Job is complete, and get jobs shows it', async () => {
    // act
    const applied = await t.ferry(['apply', '-f', '-', '--wait', '--timeout', '60s'], { stdin: job('migrate', 0) });
    const listed = await t.ferry(['get', 'jobs']);

    // assess
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain('job.batch/migrate created');
    expect(applied.stdout).toContain('job.batch/migrate complete: 1/1 succeeded, 0 active, 0 failed');
    expect(lines(listed.stdout)[0]).toMatch(/^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE$/);
    expect(lines(listed.stdout)[1]).toMatch(/^migrate\s+Complete\s+1\/1\s+\S+\s+\S+$/);
  }, 70_000);

  it('apply --wait exits 1 with BackoffLimitExceeded and names the failed pod to read', async () => {
    // act
    const res = await t.ferry(['apply', '-f', '-', '--wait', '--timeout', '60s'], { stdin: job('broken', 3) });

    // assess
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /job "broken" failed: BackoffLimitExceeded: Job has reached the specified backoff limit/,
    );
    expect(res.stderr).toMatch(/pod broken-\S+: exit code 3; its output: ferry logs broken-\S+/);
  }, 70_000);

  it('refuses to change a Job template (immutable), and a template without restartPolicy', async () => {
    // act
    const changed = await t.ferry(['apply', '-f', '-'], {
      stdin: job('migrate', 0).replace('ferry.local/busybox:1', 'ferry.local/busybox:2'),
    });
    const noPolicy = await t.ferry(['apply', '-f', '-'], {
      stdin: job('other', 0).replace('"restartPolicy":"Never",', ''),
    });

    // assess
    expect(changed.code).not.toBe(0);
    expect(changed.stderr).toMatch(/spec\.template: Invalid value: field is immutable/);
    expect(noPolicy.code).not.toBe(0);
    expect(noPolicy.stderr).toMatch(
      /spec\.template\.spec\.restartPolicy: Required value: supported values: "OnFailure", "Never"/,
    );
  });
});
