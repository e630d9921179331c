import { beforeEach, describe, expect, it } from 'vitest';
import { configMap, deployment, startApi, type TestApi } from './harness';

const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments';
const CONFIGMAPS = '/api/v1/namespaces/default/configmaps';
const APPLY = 'application/apply-patch+yaml';

type Entry = { manager: string; operation: string; fieldsV1: Record<string, unknown> };

describe('server-side apply', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
  });

  const apply = (path: string, body: unknown, query: Record<string, string>) =>
    api.send('PATCH', path, { raw: JSON.stringify(body), contentType: APPLY, query });
  const managers = (obj: Record<string, unknown>) =>
    ((obj.metadata as { managedFields?: Entry[] }).managedFields ?? []).map((e) => `${e.manager}/${e.operation}`);

  it('creates an object that is not there (201) and records the applied fields as the manager own', async () => {
    // act
    const res = await apply(`${DEPLOYMENTS}/web`, deployment('web', 2), { fieldManager: 'ci' });

    // assess
    expect(res.status).toBe(201);
    const [entry] = (res.json.metadata as { managedFields: Entry[] }).managedFields;
    expect(entry).toMatchObject({ manager: 'ci', operation: 'Apply', apiVersion: 'apps/v1', fieldsType: 'FieldsV1' });
    expect(entry?.fieldsV1).toMatchObject({ 'f:spec': { 'f:replicas': {} } });
    const containers = JSON.stringify(entry?.fieldsV1);
    expect(containers).toContain('"k:{\\"name\\":\\"app\\"}":{".":{}');
    // Defaults are nobody's: only what was applied is owned.
    expect(containers).not.toContain('progressDeadlineSeconds');
  });

  it('answers a second manager changing an owned field with 409 naming it, and writes nothing', async () => {
    // prepare
    await apply(`${DEPLOYMENTS}/web`, deployment('web', 2), { fieldManager: 'ci' });
    const before = await api.snapshot();

    // act
    const res = await apply(
      `${DEPLOYMENTS}/web`,
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 5 } },
      { fieldManager: 'autoscaler' },
    );

    // assess
    expect(res.status).toBe(409);
    expect(res.json.message).toBe('Apply failed with 1 conflict: conflict with "ci": .spec.replicas');
    expect(res.json.details?.causes).toEqual([
      { reason: 'FieldManagerConflict', message: 'conflict with "ci"', field: '.spec.replicas' },
    ]);
    expect(await api.snapshot()).toBe(before);
  });

  it('lets a second manager co-own a field at the same value, and force take one over', async () => {
    // prepare
    await apply(`${DEPLOYMENTS}/web`, deployment('web', 2), { fieldManager: 'ci' });
    const partial = (replicas: number) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { replicas },
    });

    // act
    const same = await apply(`${DEPLOYMENTS}/web`, partial(2), { fieldManager: 'autoscaler' });
    const forced = await apply(`${DEPLOYMENTS}/web`, partial(7), { fieldManager: 'autoscaler', force: 'true' });
    const again = await apply(`${DEPLOYMENTS}/web`, deployment('web', 2), { fieldManager: 'ci' });

    // assess
    expect(same.status).toBe(200);
    expect(forced.status).toBe(200);
    expect((forced.json.spec as { replicas: number }).replicas).toBe(7);
    expect(JSON.stringify((forced.json.metadata as { managedFields: Entry[] }).managedFields[0])).not.toContain(
      'f:replicas',
    );
    expect(again.status).toBe(409);
    expect(again.json.message).toContain('conflict with "autoscaler": .spec.replicas');
  });

  it('removes what the manager applied before and no longer applies, and keeps what another manager set', async () => {
    // prepare
    const cm = (data: Record<string, string>, labels?: Record<string, string>) => ({
      ...configMap('c', data),
      metadata: { name: 'c', ...(labels ? { labels } : {}) },
    });
    await apply(`${CONFIGMAPS}/c`, cm({ a: '1', b: '2' }, { team: 'x' }), { fieldManager: 'ci' });
    await api.send('PATCH', `${CONFIGMAPS}/c`, {
      body: { data: { other: 'kept' } },
      contentType: 'application/merge-patch+json',
      query: { fieldManager: 'human' },
    });

    // act
    const res = await apply(`${CONFIGMAPS}/c`, cm({ a: '1' }), { fieldManager: 'ci' });

    // assess
    expect(res.status).toBe(200);
    expect(res.json.data).toEqual({ a: '1', other: 'kept' });
    expect((res.json.metadata as { labels?: object }).labels).toBeUndefined();
    expect(managers(res.json)).toEqual(['human/Update', 'ci/Apply']);
  });

  it('merges containers by name into the live object: another manager own container stays', async () => {
    // prepare
    await apply(`${DEPLOYMENTS}/web`, deployment('web', 2), { fieldManager: 'ci' });
    await api.send('PATCH', `${DEPLOYMENTS}/web`, {
      body: { spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'busybox' }] } } } },
      contentType: 'application/strategic-merge-patch+json',
      query: { fieldManager: 'injector' },
    });
    const changed = deployment('web', 2);
    Object.assign(changed.spec.template.spec.containers[0] as object, { image: 'nginx:2' });

    // act
    const res = await apply(`${DEPLOYMENTS}/web`, changed, { fieldManager: 'ci' });

    // assess
    expect(res.status).toBe(200);
    const containers = (res.json.spec as { template: { spec: { containers: { name: string; image: string }[] } } })
      .template.spec.containers;
    expect(containers.map((c) => `${c.name}=${c.image}`)).toEqual(['app=nginx:2', 'sidecar=busybox']);
  });

  it('records other writes as Update entries that take the fields they change', async () => {
    // prepare
    await apply(`${DEPLOYMENTS}/web`, deployment('web', 2), { fieldManager: 'ci' });

    // act
    const edited = await api.send('PATCH', `${DEPLOYMENTS}/web`, {
      body: { spec: { replicas: 4 } },
      contentType: 'application/merge-patch+json',
      headers: { 'user-agent': 'kubectl-edit/v1.30 (linux/amd64)' },
    });
    const reapplied = await apply(`${DEPLOYMENTS}/web`, deployment('web', 2), { fieldManager: 'ci' });

    // assess
    expect(managers(edited.json)).toEqual(['ci/Apply', 'kubectl-edit/Update']);
    expect(reapplied.status).toBe(409);
    expect(reapplied.json.message).toBe(
      'Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas',
    );
  });

  it('takes managedFields a write sets itself (kubectl migrating client-side apply), and [{}] clears them', async () => {
    // prepare
    await apply(`${CONFIGMAPS}/c`, configMap('c'), { fieldManager: 'ci' });
    const entry = {
      manager: 'kubectl',
      operation: 'Apply',
      apiVersion: 'v1',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:data': { 'f:a': {} } },
    };

    // act
    const replaced = await api.send('PATCH', `${CONFIGMAPS}/c`, {
      body: [{ op: 'replace', path: '/metadata/managedFields', value: [entry] }],
      contentType: 'application/json-patch+json',
    });
    const bad = await api.send('PATCH', `${CONFIGMAPS}/c`, {
      body: { metadata: { managedFields: [{ manager: 'x', operation: 'Delete' }] } },
      contentType: 'application/merge-patch+json',
    });
    const cleared = await api.send('PATCH', `${CONFIGMAPS}/c`, {
      body: { metadata: { managedFields: [{}] } },
      contentType: 'application/merge-patch+json',
    });

    // assess
    expect(managers(replaced.json)).toEqual(['kubectl/Apply']);
    expect(bad.status).toBe(422);
    expect(bad.json.details?.causes?.map((c) => c.field)).toContain('metadata.managedFields[0].operation');
    expect(managers(cleared.json)).toEqual([]);
  });

  it.each([
    [{}, 400, 'fieldManager is required'],
    [{ fieldManager: 'ci', force: 'yes' }, 400, 'force: must be "true" or "false"'],
    [{ fieldManager: 'x'.repeat(129) }, 422, 'fieldManager'],
  ])('refuses an apply with query %j (%i)', async (query, status, message) => {
    // act
    const res = await apply(`${CONFIGMAPS}/c`, configMap('c'), query as Record<string, string>);

    // assess
    expect(res.status).toBe(status);
    expect(res.json.message).toContain(message);
  });

  it('refuses an apply whose body names another object or sets managedFields, and force on a merge patch', async () => {
    // act
    const other = await apply(`${CONFIGMAPS}/c`, configMap('d'), { fieldManager: 'ci' });
    const owned = await apply(
      `${CONFIGMAPS}/c`,
      { ...configMap('c'), metadata: { name: 'c', managedFields: [{ manager: 'x' }] } },
      { fieldManager: 'ci' },
    );
    const force = await api.send('PATCH', `${CONFIGMAPS}/c`, {
      body: {},
      contentType: 'application/merge-patch+json',
      query: { force: 'true' },
    });

    // assess
    expect(other.status).toBe(400);
    expect(owned.status).toBe(400);
    expect(owned.json.message).toContain('metadata.managedFields must be nil');
    expect(force.status).toBe(400);
  });
});
