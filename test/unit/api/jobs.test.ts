/** batch/v1 Jobs through the API: served and discoverable, defaulted, validated, template immutable. */
import { beforeEach, describe, expect, it } from 'vitest';
import { startApi, type TestApi } from './harness';

const JOBS = '/apis/batch/v1/namespaces/default/jobs';

function job(image = 'ferry.local/busybox:1', restartPolicy: string | null = 'Never') {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'migrate' },
    spec: {
      template: {
        spec: { ...(restartPolicy ? { restartPolicy } : {}), containers: [{ name: 'm', image }] },
      },
    },
  };
}

describe('Jobs through the API', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
  });

  it('creates a Job with Kubernetes defaults and lists it under batch/v1, which discovery names', async () => {
    // act
    const created = await api.send('POST', JOBS, { body: job() });
    const discovery = await api.send('GET', '/apis/batch/v1');

    // assess
    expect(created.status).toBe(201);
    expect(created.json.spec).toMatchObject({ completions: 1, parallelism: 1, backoffLimit: 6, suspend: false });
    expect((discovery.json.resources as { name: string }[]).map((r) => r.name)).toContain('jobs');
    expect((await api.send('GET', JOBS)).json.kind).toBe('JobList');
  });

  it('rejects a template without restartPolicy, or with Always, naming the field and storing nothing', async () => {
    // prepare
    const before = await api.snapshot();

    // act
    const missing = await api.send('POST', JOBS, { body: job('x', null) });
    const always = await api.send('POST', JOBS, { body: job('x', 'Always') });

    // assess
    expect(missing.status).toBe(422);
    expect(missing.json.message).toContain('spec.template.spec.restartPolicy: Required value');
    expect(always.status).toBe(422);
    expect(always.json.message).toContain('Unsupported value: "Always"');
    expect(await api.snapshot()).toBe(before);
  });

  it('refuses a changed template on PUT, PATCH and apply (immutable), leaving the Job as it was', async () => {
    // prepare
    await api.send('POST', JOBS, { body: job() });
    const before = await api.snapshot();

    // act
    const put = await api.send('PUT', `${JOBS}/migrate`, { body: job('ferry.local/busybox:2') });
    const patch = await api.send('PATCH', `${JOBS}/migrate`, {
      raw: JSON.stringify({ spec: { completions: 3 } }),
      contentType: 'application/merge-patch+json',
    });
    const applied = await api.send('POST', '/apis/ferry.dev/v1/apply', { body: [job('ferry.local/busybox:2')] });
    const labelOnly = await api.send('PATCH', `${JOBS}/migrate`, {
      raw: JSON.stringify({ metadata: { labels: { team: 'db' } } }),
      contentType: 'application/merge-patch+json',
    });

    // assess
    expect(put.status).toBe(422);
    expect(put.json.message).toContain('spec.template: Invalid value: field is immutable');
    expect(patch.status).toBe(422);
    expect(patch.json.message).toContain('spec.completions');
    expect(applied.status).toBe(422);
    expect(labelOnly.status).toBe(200);
    expect(before).not.toBe(await api.snapshot()); // only the label write landed
  });

  it.each([
    ['*/5 * * * *', undefined, 201, ''],
    ['@hourly', 'Europe/Paris', 201, ''],
    ['0 0 * * * *', undefined, 422, 'spec.schedule: Invalid value: "0 0 * * * *": must have 5 fields'],
    ['61 * * * *', undefined, 422, 'spec.schedule: Invalid value: "61 * * * *"'],
    ['@fortnightly', undefined, 422, 'unknown macro'],
    ['0 9 * * *', 'Mars/Olympus', 422, 'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone'],
  ])('CronJob schedule %j in %j -> %i', async (schedule, timeZone, status, message) => {
    // prepare
    const before = await api.snapshot();

    // act
    const res = await api.send('POST', '/apis/batch/v1/namespaces/default/cronjobs', {
      body: {
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: { name: 'nightly' },
        spec: { schedule, ...(timeZone ? { timeZone } : {}), jobTemplate: { spec: job().spec } },
      },
    });

    // assess
    expect(res.status).toBe(status);
    if (status === 201)
      expect(res.json.spec).toMatchObject({ concurrencyPolicy: 'Allow', successfulJobsHistoryLimit: 3 });
    else {
      expect(res.json.message).toContain(message);
      expect(await api.snapshot()).toBe(before);
    }
  });

  it('validates a CronJob job template like a Job, naming the nested field', async () => {
    // act
    const res = await api.send('POST', '/apis/batch/v1/namespaces/default/cronjobs', {
      body: {
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: { name: 'nightly' },
        spec: { schedule: '@daily', jobTemplate: { spec: job('x', null).spec } },
      },
    });

    // assess
    expect(res.status).toBe(422);
    expect(res.json.message).toContain('spec.jobTemplate.spec.template.spec.restartPolicy: Required value');
  });
});
