import { beforeEach, describe, expect, it } from 'vitest';
import { reconcileDeployments } from '../../../functions/controllers/deployment';
import type { Deployment, ReplicaSet } from '../../../schemas';
import { deployment, startApi, type TestApi } from './harness';

const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments';
const ROLLBACK = `${DEPLOYMENTS}/web/rollback`;

/** Applies `web` with each image in turn, letting the deployment controller create a revision for each. */
async function withRevisions(api: TestApi, ...images: string[]): Promise<void> {
  for (const image of images) {
    const body = deployment('web', 2);
    body.spec.template.spec.containers[0] = { name: 'app', image };
    const res = await api.send('POST', '/apis/ferry.dev/v1/apply', { body: [body] });
    expect(res.status).toBe(200);
    await reconcileDeployments(api.deps);
  }
}

async function image(api: TestApi): Promise<string | undefined> {
  const d = (await api.send('GET', `${DEPLOYMENTS}/web`)).json as unknown as Deployment;
  return d.spec.template.spec.containers[0]?.image;
}

describe('POST .../deployments/{name}/rollback', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
  });

  it('puts the previous revision template back; the controller makes it the newest revision', async () => {
    // prepare
    await withRevisions(api, 'img:1', 'img:2');

    // act
    const res = await api.send('POST', ROLLBACK);
    await reconcileDeployments(api.deps);

    // assess
    expect(res.status).toBe(200);
    expect(res.json).toEqual(
      expect.objectContaining({
        kind: 'Status',
        status: 'Success',
        message: 'deployment "web" rolled back to revision 1',
      }),
    );
    expect(await image(api)).toBe('img:1');
    const sets = (await api.store.list<ReplicaSet>('ReplicaSet')).items;
    const revisions = Object.fromEntries(
      sets.map((rs) => [
        rs.spec.template?.spec.containers[0]?.image,
        rs.metadata.annotations?.['deployment.kubernetes.io/revision'],
      ]),
    );
    expect(revisions).toEqual({ 'img:1': '3', 'img:2': '2' });
  });

  it('rolls back to a named revision, and skips one whose template is already current', async () => {
    // prepare
    await withRevisions(api, 'img:1', 'img:2', 'img:3');

    // act
    const toFirst = await api.send('POST', ROLLBACK, { body: { rollbackTo: { revision: 1 } } });
    const before = await api.snapshot();
    const again = await api.send('POST', ROLLBACK, {
      body: { kind: 'DeploymentRollback', rollbackTo: { revision: 1 } },
    });

    // assess
    expect(toFirst.json.message).toBe('deployment "web" rolled back to revision 1');
    expect(await image(api)).toBe('img:1');
    expect(again.status).toBe(200);
    expect(again.json).toEqual(
      expect.objectContaining({
        reason: 'Unchanged',
        message: 'skipped rollback (current template already matches revision 1)',
      }),
    );
    expect(await api.snapshot()).toBe(before);
  });

  it('rejects a revision that does not exist, or is not a number, naming the field and writing nothing', async () => {
    // prepare
    await withRevisions(api, 'img:1', 'img:2');
    const before = await api.snapshot();

    // act
    const missing = await api.send('POST', ROLLBACK, { body: { rollbackTo: { revision: 9 } } });
    const text = await api.send('POST', ROLLBACK, { body: { rollbackTo: { revision: '1; rm -rf /' } } });
    const negative = await api.send('POST', ROLLBACK, { body: { rollbackTo: { revision: -1 } } });
    const unknown = await api.send('POST', ROLLBACK, { body: { rollbackTo: { revision: 1 }, force: true } });
    const polluted = await api.send('POST', ROLLBACK, {
      raw: '{"__proto__": {"revision": 1}}',
      contentType: 'application/json',
    });

    // assess
    expect(missing.status).toBe(422);
    expect(missing.json.details?.causes).toEqual([
      expect.objectContaining({
        field: 'rollbackTo.revision',
        message: 'deployment "web" has no revision 9 (revisions: 1, 2)',
      }),
    ]);
    expect(text.status).toBe(422);
    expect(text.json.details?.causes?.[0]?.field).toBe('rollbackTo.revision');
    expect(negative.status).toBe(422);
    expect(unknown.status).toBe(422);
    expect(unknown.json.details?.causes?.[0]?.field).toBe('force');
    expect(polluted.status).toBe(400);
    expect(await api.snapshot()).toBe(before);
    expect(await image(api)).toBe('img:2');
  });

  it('refuses a Deployment with no earlier revision, a paused one, and a missing one', async () => {
    // prepare
    await withRevisions(api, 'img:1');
    const before = await api.snapshot();

    // act
    const first = await api.send('POST', ROLLBACK);
    const afterFirst = await api.snapshot();
    await withRevisions(api, 'img:2');
    await api.send('PATCH', `${DEPLOYMENTS}/web`, {
      body: { spec: { paused: true } },
      contentType: 'application/merge-patch+json',
    });
    const pausedBefore = await api.snapshot();
    const paused = await api.send('POST', ROLLBACK);
    const missing = await api.send('POST', `${DEPLOYMENTS}/nope/rollback`);

    // assess
    expect(first.status).toBe(400);
    expect(first.json.message).toBe('deployment "web" has no previous revision to roll back to');
    expect(afterFirst).toBe(before);
    expect(paused.status).toBe(409);
    expect(paused.json.message).toMatch(/is paused: resume it first/);
    expect(await api.snapshot()).toBe(pausedBefore);
    expect(missing.status).toBe(404);
  });

  it('writes nothing on a dry run', async () => {
    // prepare
    await withRevisions(api, 'img:1', 'img:2');
    const before = await api.snapshot();

    // act
    const res = await api.send('POST', ROLLBACK, { query: { dryRun: 'All' } });

    // assess
    expect(res.status).toBe(200);
    expect(res.json.message).toBe('deployment "web" rolled back to revision 1 (dry run)');
    expect(await api.snapshot()).toBe(before);
  });

  it('is an update of the Deployment: readers and other namespaces deployers get 403, GET gets 405', async () => {
    // prepare
    await withRevisions(api, 'img:1', 'img:2');
    const reader = await api.token({ role: 'reader' });
    const elsewhere = await api.token({ role: 'deployer', namespaces: ['staging'] });
    const deployer = await api.token({ role: 'deployer', namespaces: ['default'] });

    // act
    const asReader = await api.send('POST', ROLLBACK, { token: reader });
    const asElsewhere = await api.send('POST', ROLLBACK, { token: elsewhere });
    const get = await api.send('GET', ROLLBACK);
    const asDeployer = await api.send('POST', ROLLBACK, { token: deployer });

    // assess
    expect(asReader.status).toBe(403);
    expect(asElsewhere.status).toBe(403);
    expect(get.status).toBe(405);
    expect(asDeployer.status).toBe(200);
    expect(await image(api)).toBe('img:1');
  });
});
