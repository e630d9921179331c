/**
 * Job fields Kubernetes has and ferry's job controller does not run yet are refused with a 422
 * that names the field and says so (issue 14: Indexed Jobs and podFailurePolicy were refused as
 * unknown fields, or accepted where they should not be); nothing is stored.
 */
import { describe, expect, it } from 'vitest';
import { startApi } from './harness';

const JOBS = '/apis/batch/v1/namespaces/default/jobs';
const job = (extra: Record<string, unknown>) => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name: 'j' },
  spec: {
    ...extra,
    template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'ferry.local/busybox:1' }] } },
  },
});

describe('Job fields ferry does not run yet', () => {
  it.each([
    ['completionMode', { completionMode: 'Indexed', completions: 3 }, 'Indexed Jobs'],
    ['podFailurePolicy', { podFailurePolicy: { rules: [] } }, 'pod failure policies'],
    ['backoffLimitPerIndex', { backoffLimitPerIndex: 1 }, 'per-index back-off limits'],
    ['successPolicy', { successPolicy: { rules: [] } }, 'Job success policies'],
  ])('refuses %s with a 422 naming it', async (field, extra, what) => {
    const api = await startApi();
    const before = await api.snapshot();
    const res = await api.send('POST', JOBS, { body: job(extra) });
    expect(res.status).toBe(422);
    const cause = res.json.details?.causes?.find((c) => c.field === `spec.${field}`);
    expect(cause?.message).toBe(`ferry does not support ${what} yet`);
    expect(await api.snapshot()).toBe(before);
  });

  it('accepts the default completion mode', async () => {
    const api = await startApi();
    const res = await api.send('POST', JOBS, { body: job({ completionMode: 'NonIndexed' }) });
    expect(res.status).toBe(201);
  });
});
