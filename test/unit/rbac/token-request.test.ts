/**
 * Audiences and the TokenRequest API, through the API: `kubectl create token` gets a token that
 * works as its ServiceAccount, bound to a Pod or Secret it dies with them; a token for another
 * audience is no API credential; a node gets a projection's token only for a projection its pod
 * holds. Hostile cases: short or huge durations, too many or too long audiences, unknown bound
 * kinds, a pod of another ServiceAccount, a caller without `create serviceaccounts/token`.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { namespace, node, pod, secret, startApi, type TestApi } from '../api/harness';

const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const TOKEN_PATH = '/api/v1/namespaces/team/serviceaccounts/robot/token';
const request = (spec: Record<string, unknown> = {}) => ({
  apiVersion: 'authentication.k8s.io/v1',
  kind: 'TokenRequest',
  spec,
});

describe('the TokenRequest API and audiences', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startApi();
    await api.send('POST', '/api/v1/nodes', { body: node('n1') });
    await api.send('POST', '/api/v1/namespaces', { body: namespace('team') });
    await api.send('POST', '/api/v1/namespaces/team/serviceaccounts', {
      body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'robot' } },
    });
    await api.send('POST', `${RBAC}/namespaces/team/roles`, {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'r' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }],
      },
    });
    await api.send('POST', `${RBAC}/namespaces/team/rolebindings`, {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'rb' },
        roleRef: { kind: 'Role', name: 'r' },
        subjects: [{ kind: 'ServiceAccount', name: 'robot' }],
      },
    });
  });

  const listWith = async (token: string) =>
    (await api.send('GET', '/api/v1/namespaces/team/configmaps', { token })).status;

  it('issues a one-hour token for the API audience that acts as its ServiceAccount', async () => {
    // act
    const res = await api.send('POST', TOKEN_PATH, { body: request() });

    // assess
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({
      kind: 'TokenRequest',
      spec: { audiences: ['https://kubernetes.default.svc.cluster.local'], expirationSeconds: 3600 },
    });
    const status = res.json.status as { token: string; expirationTimestamp: string };
    expect(Date.parse(status.expirationTimestamp) - api.now.ms).toBe(3600_000);
    expect(await listWith(status.token)).toBe(200);
    expect((await api.send('GET', '/api/v1/namespaces/team/secrets', { token: status.token })).status).toBe(403);
    api.now.ms += 3600_000;
    expect(await listWith(status.token)).toBe(401);
  });

  it('takes the body kubectl create token sends, nulls and all', async () => {
    // prepare
    const body = {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: { audiences: null, expirationSeconds: null, boundObjectRef: null },
      status: { token: '', expirationTimestamp: null },
    };

    // act
    const res = await api.send('POST', TOKEN_PATH, { body });

    // assess
    expect(res.status).toBe(201);
    expect(await listWith((res.json.status as { token: string }).token)).toBe(200);
  });

  it('refuses a token for another audience as an API credential, and accepts one that also names the API', async () => {
    // act
    const vault = await api.send('POST', TOKEN_PATH, { body: request({ audiences: ['vault'] }) });
    const both = await api.send('POST', TOKEN_PATH, {
      body: request({ audiences: ['vault', 'https://kubernetes.default.svc'] }),
    });

    // assess
    expect(vault.status).toBe(201);
    const res = await api.send('GET', '/api/v1/namespaces/team/configmaps', {
      token: (vault.json.status as { token: string }).token,
    });
    expect(res.status).toBe(401);
    expect(res.json.message).toContain('audiences (vault)');
    expect(await listWith((both.json.status as { token: string }).token)).toBe(200);
  });

  it('binds a token to a Secret or a Pod: it stops working when that object is deleted', async () => {
    // prepare
    await api.send('POST', '/api/v1/namespaces/team/secrets', { body: secret('s', 'team') });
    const body = pod('p', { namespace: 'team', nodeName: 'n1' });
    body.spec = { ...body.spec, serviceAccountName: 'robot' } as typeof body.spec;
    await api.send('POST', '/api/v1/namespaces/team/pods', { body });

    // act
    const toSecret = await api.send('POST', TOKEN_PATH, {
      body: request({ boundObjectRef: { kind: 'Secret', apiVersion: 'v1', name: 's' } }),
    });
    const toPod = await api.send('POST', TOKEN_PATH, { body: request({ boundObjectRef: { kind: 'Pod', name: 'p' } }) });
    const secretToken = (toSecret.json.status as { token: string }).token;
    const podToken = (toPod.json.status as { token: string }).token;
    const before = [await listWith(secretToken), await listWith(podToken)];
    await api.send('DELETE', '/api/v1/namespaces/team/secrets/s');
    await api.send('DELETE', '/api/v1/namespaces/team/pods/p', { query: { gracePeriodSeconds: '0' } });
    api.now.ms += 2_000; // past the API's one-second token cache

    // assess
    expect(toSecret.status).toBe(201);
    expect((toSecret.json.spec as { boundObjectRef: { uid: string } }).boundObjectRef.uid).toBeTruthy();
    expect(before).toEqual([200, 200]);
    expect(await listWith(secretToken)).toBe(401);
    expect(await listWith(podToken)).toBe(401);
  });

  it('dies with its ServiceAccount', async () => {
    // prepare
    const res = await api.send('POST', TOKEN_PATH, { body: request() });
    const token = (res.json.status as { token: string }).token;

    // act
    await api.send('DELETE', '/api/v1/namespaces/team/serviceaccounts/robot');
    api.now.ms += 2_000; // past the API's one-second token cache

    // assess
    expect(await listWith(token)).toBe(401);
  });

  it('refuses bad requests with a 422 naming the field, and issues nothing', async () => {
    // prepare
    const cases: [Record<string, unknown>, string][] = [
      [{ expirationSeconds: 599 }, 'spec.expirationSeconds'],
      [{ expirationSeconds: 2 ** 32 + 1 }, 'spec.expirationSeconds'],
      [{ expirationSeconds: '1h' }, 'spec.expirationSeconds'],
      [{ audiences: ['x'.repeat(1025)] }, 'spec.audiences[0]'],
      [{ audiences: [''] }, 'spec.audiences[0]'],
      [{ audiences: Array.from({ length: 17 }, (_, i) => `a${i}`) }, 'spec.audiences'],
      [{ boundObjectRef: { kind: 'Node', name: 'n1' } }, 'spec.boundObjectRef.kind'],
      [{ boundObjectRef: { kind: 'Pod' } }, 'spec.boundObjectRef.name'],
      [{ lifetime: 5 }, 'spec.lifetime'],
    ];

    for (const [spec, field] of cases) {
      // act
      const res = await api.send('POST', TOKEN_PATH, { body: request(spec) });

      // assess
      expect(res.status, JSON.stringify(spec)).toBe(422);
      expect(res.json.message).toContain(field);
    }
    const records = (await api.store.list('Token')).items.filter(
      (t) => (t.spec as { role: string }).role === 'serviceaccount',
    );
    expect(records).toHaveLength(0);
  });

  it('refuses a missing ServiceAccount, a pod of another ServiceAccount, a stale uid, and callers without the right', async () => {
    // prepare
    await api.send('POST', '/api/v1/namespaces/team/pods', {
      body: pod('other', { namespace: 'team', nodeName: 'n1' }),
    });
    const reader = await api.token({ role: 'reader' });
    const deployer = await api.token({ role: 'deployer', namespaces: ['team'] });
    const elsewhere = await api.token({ role: 'deployer', namespaces: ['default'] });
    const sa = (await api.send('POST', TOKEN_PATH, { body: request() })).json.status as { token: string };

    // act
    const missing = await api.send('POST', '/api/v1/namespaces/team/serviceaccounts/ghost/token', { body: request() });
    const wrongPod = await api.send('POST', TOKEN_PATH, {
      body: request({ boundObjectRef: { kind: 'Pod', name: 'other' } }),
    });
    const staleUid = await api.send('POST', TOKEN_PATH, {
      body: request({ boundObjectRef: { kind: 'Pod', name: 'other', uid: 'not-the-uid' } }),
    });
    const byReader = await api.send('POST', TOKEN_PATH, { body: request(), token: reader });
    const byDeployer = await api.send('POST', TOKEN_PATH, { body: request(), token: deployer });
    const byOtherDeployer = await api.send('POST', TOKEN_PATH, { body: request(), token: elsewhere });
    const bySelf = await api.send('POST', TOKEN_PATH, { body: request(), token: sa.token });
    const get = await api.send('GET', TOKEN_PATH);

    // assess
    expect(missing.status).toBe(404);
    expect(wrongPod.status).toBe(400);
    expect(staleUid.status).toBe(403);
    expect(byReader.status).toBe(403);
    expect(byDeployer.status).toBe(201);
    expect(byOtherDeployer.status).toBe(403);
    expect(bySelf.status).toBe(403);
    expect(bySelf.json.message).toContain('cannot create resource "serviceaccounts/token"');
    expect(get.status).toBe(405);
  });

  it('lets a pod token that RBAC grants create serviceaccounts/token mint one, and only for the names granted', async () => {
    // prepare
    await api.send('POST', '/api/v1/namespaces/team/serviceaccounts', {
      body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'other' } },
    });
    await api.send('POST', `${RBAC}/namespaces/team/roles`, {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'minter' },
        rules: [{ apiGroups: [''], resources: ['serviceaccounts/token'], resourceNames: ['robot'], verbs: ['create'] }],
      },
    });
    await api.send('POST', `${RBAC}/namespaces/team/rolebindings`, {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'minter' },
        roleRef: { kind: 'Role', name: 'minter' },
        subjects: [{ kind: 'ServiceAccount', name: 'robot' }],
      },
    });
    const sa = (await api.send('POST', TOKEN_PATH, { body: request() })).json.status as { token: string };

    // act
    const mine = await api.send('POST', TOKEN_PATH, { body: request(), token: sa.token });
    const theirs = await api.send('POST', '/api/v1/namespaces/team/serviceaccounts/other/token', {
      body: request(),
      token: sa.token,
    });

    // assess
    expect(mine.status).toBe(201);
    expect(theirs.status).toBe(403);
  });

  it('lists serviceaccounts/token in discovery as a TokenRequest', async () => {
    // act
    const res = await api.send('GET', '/api/v1');

    // assess
    const resources = res.json.resources as { name: string; kind: string; verbs: string[] }[];
    expect(resources.find((r) => r.name === 'serviceaccounts/token')).toMatchObject({
      kind: 'TokenRequest',
      verbs: ['create'],
    });
  });

  it("gives a node a projection's token only for a projection its pod holds, with that audience and life", async () => {
    // prepare
    const body = pod('p', { namespace: 'team', nodeName: 'n1' });
    body.spec = {
      ...body.spec,
      serviceAccountName: 'robot',
      automountServiceAccountToken: false,
      volumes: [
        {
          name: 'vault-token',
          projected: { sources: [{ serviceAccountToken: { audience: 'vault', expirationSeconds: 7200, path: 't' } }] },
        },
      ],
    } as typeof body.spec;
    const created = await api.send('POST', '/api/v1/namespaces/team/pods', { body });
    expect(created.status).toBe(201);
    const meta = created.json.metadata as { name: string; namespace: string; uid: string };
    const ref = { name: meta.name, namespace: meta.namespace, uid: meta.uid };
    const nodeToken = await api.token({ role: 'node', nodeName: 'n1' });
    const ask = (projection: Record<string, unknown>) =>
      api.send('POST', '/agent/v1/token', { body: { pod: ref, projection }, token: nodeToken });

    // act
    const held = await ask({ audience: 'vault', expirationSeconds: 7200 });
    const notHeld = await ask({ audience: 'https://kubernetes.default.svc.cluster.local', expirationSeconds: 7200 });
    const tooShort = await ask({ audience: 'vault', expirationSeconds: 60 });

    // assess
    expect(held.status).toBe(200);
    expect(Date.parse(held.json.expirationTimestamp as string) - api.now.ms).toBe(7200_000);
    expect(await listWith(held.json.token as string)).toBe(401); // a vault token is no API credential
    expect(notHeld.status).toBe(403);
    expect(tooShort.status).toBe(422);
  });
});
