/** Tables (`Accept: ...;as=Table;v=v1;g=meta.k8s.io`): the columns `ferry get` prints, as kubectl asks. */
import { beforeEach, describe, expect, it } from 'vitest';
import { deployment, startApi, type TestApi } from './harness';

const TABLE =
  'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments';

describe('server-side tables', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
    await api.send('POST', DEPLOYMENTS, { body: deployment('web', 3) });
  });

  it('answers a list as a Table with the columns, wide ones at priority 1, and each row metadata', async () => {
    // act
    const res = await api.send('GET', DEPLOYMENTS, { headers: { accept: TABLE } });

    // assess
    expect(res.json).toMatchObject({ apiVersion: 'meta.k8s.io/v1', kind: 'Table' });
    const defs = res.json.columnDefinitions as { name: string; priority: number }[];
    expect(defs.map((d) => [d.name, d.priority])).toEqual([
      ['Name', 0],
      ['Ready', 0],
      ['Up-to-date', 0],
      ['Available', 0],
      ['Age', 0],
      ['Containers', 1],
      ['Images', 1],
      ['Selector', 1],
    ]);
    const rows = res.json.rows as { cells: string[]; object: { kind: string; metadata: { name: string } } }[];
    expect(rows[0]?.cells.slice(0, 4)).toEqual(['web', '0/3', '0', '0']);
    expect(rows[0]?.object).toMatchObject({ kind: 'PartialObjectMetadata', metadata: { name: 'web' } });
    expect((res.json.metadata as { resourceVersion: string }).resourceVersion).toEqual(expect.any(String));
  });

  it('answers a get as a one-row Table, with the whole object or none on request', async () => {
    // act
    const whole = await api.send('GET', `${DEPLOYMENTS}/web`, {
      headers: { accept: TABLE },
      query: { includeObject: 'Object' },
    });
    const none = await api.send('GET', `${DEPLOYMENTS}/web`, {
      headers: { accept: TABLE },
      query: { includeObject: 'None' },
    });
    const plain = await api.send('GET', `${DEPLOYMENTS}/web`);
    const bad = await api.send('GET', DEPLOYMENTS, { headers: { accept: TABLE }, query: { includeObject: 'All' } });

    // assess
    expect((whole.json.rows as { object: { kind: string } }[])[0]?.object.kind).toBe('Deployment');
    expect((none.json.rows as object[])[0]).not.toHaveProperty('object');
    expect(plain.json.kind).toBe('Deployment');
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/^includeObject:/);
  });
});
