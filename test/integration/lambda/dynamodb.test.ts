/**
 * The Lambda API entry point as deployed: it builds its store from the environment (FERRY_STORE
 * defaults to dynamodb) and serves API Gateway HTTP API events from a real DynamoDB-compatible
 * server (dynalite, in-process).
 */
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../functions/log';
import { DynamoStore } from '../../../functions/store/dynamodb';
import { issueToken } from '../../../functions/tokens';
import type { Pod } from '../../../schemas';
import { makeNode } from '../../helpers/objects';

const TABLE = 'ferry-lambda-test';

function event(method: string, path: string, token: string, body?: unknown): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    requestContext: { http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' } },
    isBase64Encoded: false,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  } as unknown as APIGatewayProxyEventV2;
}

describe('the Lambda API on DynamoDB', () => {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  let store: DynamoStore;
  let token: string;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    Object.assign(process.env, {
      FERRY_TABLE: TABLE,
      FERRY_DYNAMODB_ENDPOINT: endpoint,
      AWS_REGION: 'local',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    });
    const options = {
      table: TABLE,
      client: { endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } },
    };
    await DynamoStore.ensureTable(options);
    store = await DynamoStore.open(options);
    ({ token } = await issueToken({ store, clock: Date.now, log: silentLogger }, { name: 'ci', role: 'admin' }));
  });

  afterAll(async () => {
    await store.close();
    await new Promise((resolve) => server.close(() => resolve(undefined)));
  });

  it('creates the default namespaces on its first event and keeps objects in the table', async () => {
    const { api } = await import('../../../functions/runtime/lambda');
    const configMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'settings', namespace: 'default' },
      data: { mode: 'blue' },
    };

    const created = await api(event('POST', '/api/v1/namespaces/default/configmaps', token, configMap), {});
    const fetched = await api(event('GET', '/api/v1/namespaces/default/configmaps/settings', token), {});
    const invalid = await api(
      event('POST', '/api/v1/namespaces/default/configmaps', token, { ...configMap, metadata: { name: 'Bad_Name' } }),
      {},
    );

    expect(created.statusCode).toBe(201);
    expect(JSON.parse(fetched.body ?? '{}').data).toEqual({ mode: 'blue' });
    expect(invalid.statusCode).toBe(422);
    expect(JSON.parse(invalid.body ?? '{}').message).toContain('metadata.name');
    expect((await store.list('Namespace')).items.map((n) => n.metadata.name)).toEqual(
      expect.arrayContaining(['default', 'kube-system', 'kube-node-lease']),
    );
    expect(await store.get({ kind: 'ConfigMap', namespace: 'default', name: 'settings' })).toMatchObject({
      data: { mode: 'blue' },
    });
    expect(await store.get({ kind: 'ConfigMap', namespace: 'default', name: 'Bad_Name' })).toBeUndefined();
  });

  it('turns a Deployment into pods bound to a node on one schedule event to the controllers function', async () => {
    const { api, controllers } = await import('../../../functions/runtime/lambda');
    await store.create(makeNode('node-1'));
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'busybox' }] },
        },
      },
    };
    const created = await api(event('POST', '/apis/apps/v1/namespaces/default/deployments', token, deployment), {});
    const schedule = { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} };

    const result = await controllers(schedule, {});
    const unsupported = await controllers({ hello: 'world' }, {}).catch((err: Error) => err);

    expect(created.statusCode).toBe(201);
    expect(result).toEqual({ ran: true });
    const pods = (await store.list<Pod>('Pod', { namespace: 'default' })).items;
    expect(pods).toHaveLength(3);
    expect(pods.every((p) => p.spec.nodeName === 'node-1')).toBe(true);
    expect(String(unsupported)).toContain('expected a schedule or DynamoDB stream event');
    // The next minute's schedule finds nothing due in the controllers' marker: no pass, no scan.
    expect(await controllers(schedule, {})).toEqual({ ran: false });
  });

  it('bootstrap issues the first admin token once, stored only as a hash', async () => {
    const { bootstrap } = await import('../../../functions/runtime/lambda');
    const options = {
      table: 'ferry-bootstrap-test',
      client: {
        endpoint: process.env.FERRY_DYNAMODB_ENDPOINT as string,
        region: 'local',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      },
    };
    await DynamoStore.ensureTable(options);
    process.env.FERRY_TABLE = options.table;
    try {
      const first = await bootstrap({}, {});
      const second = await bootstrap({}, {});

      expect(first.adminToken).toMatch(/^ferry_admin_/);
      expect(second).toEqual({ message: 'tokens exist already: no admin token was issued' });
      const fresh = await DynamoStore.open(options);
      const record = await fresh.get({ kind: 'Token', name: 'admin' });
      await fresh.close();
      expect(record?.secretHash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(record)).not.toContain((first.adminToken as string).slice('ferry_admin_'.length));
    } finally {
      process.env.FERRY_TABLE = TABLE;
    }
  });
});
