/**
 * The controllers' stream triggers over the real item layout: objects are written through the
 * DynamoDB store to a DynamoDB-compatible server (dynalite, in-process; it has no streams), the
 * items before and after each write are read back and made into the NEW_AND_OLD_IMAGES record
 * DynamoDB Streams would deliver, and that record goes through serverless.yml's filter patterns
 * (as the bench evaluates them) and the controllers handler. A heartbeat-only Node status write
 * must reach the handler and run no pass; a write that changes what a controller acts on must run
 * one; a Lease renewal must reach only the lease mapping and be read without a store read.
 */
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passesFilters, readDeployment } from '../../../bench/cost/deployment';
import { silentLogger } from '../../../functions/log';
import { createControllersHandler, leaseOfRecord, streamRecordTriggers } from '../../../functions/runtime/lambda';
import { DynamoStore } from '../../../functions/store/dynamodb';
import { key } from '../../../functions/store/dynamodb-layout';
import type { Obj } from '../../../functions/store/types';
import type { Lease, Node } from '../../../schemas';
import { makeNode } from '../../helpers/objects';

const TABLE = 'ferry-stream-test';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

describe('the controllers stream triggers on DynamoDB items', () => {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  let store: DynamoStore;
  let client: DynamoDBClient;
  const deployment = readDeployment();
  const main = deployment.streams.find((s) => s.name === 'stream');
  const leases = deployment.streams.find((s) => s.name !== 'stream');

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const options = { table: TABLE, client: { endpoint, region: 'local', credentials } };
    await DynamoStore.ensureTable(options);
    store = await DynamoStore.open(options);
    client = new DynamoDBClient({ endpoint, region: 'local', credentials });
  });

  afterAll(async () => {
    client.destroy();
    await store.close();
    await new Promise((resolve) => server.close(() => resolve(undefined)));
  });

  const itemOf = async (obj: Obj) =>
    (
      await client.send(
        new GetItemCommand({
          TableName: TABLE,
          Key: key(obj.kind, obj.metadata.namespace, obj.metadata.name),
          ConsistentRead: true,
        }),
      )
    ).Item;

  /** Writes `next` and answers the stream record DynamoDB would deliver for it. */
  async function written(before: Obj | undefined, write: () => Promise<Obj>) {
    const old = before ? await itemOf(before) : undefined;
    const after = await write();
    const now = await itemOf(after);
    return {
      eventSource: 'aws:dynamodb',
      eventName: old ? 'MODIFY' : 'INSERT',
      dynamodb: {
        Keys: { pk: now?.pk, sk: now?.sk },
        ...(now ? { NewImage: now } : {}),
        ...(old ? { OldImage: old } : {}),
      },
    } as Parameters<typeof streamRecordTriggers>[0];
  }

  it('the deployment streams both images, with a mapping for objects and one for Leases', () => {
    expect(deployment.streamViewType).toBe('NEW_AND_OLD_IMAGES');
    expect(main).toBeDefined();
    expect(leases).toBeDefined();
  });

  it('a heartbeat-only Node status write reaches the controllers and runs no pass; a taint runs one', async () => {
    const node = (await store.create(makeNode('n1'))) as Node;
    const heartbeat = await written(node, () =>
      store.update({
        ...node,
        status: {
          ...node.status,
          conditions: [
            { type: 'Ready', status: 'True', reason: 'AgentReady', lastHeartbeatTime: '2026-12-01T12:05:00Z' },
          ],
        },
      }),
    );
    const current = (await store.get<Node>({ kind: 'Node', name: 'n1' })) as Node;
    const taint = await written(current, () =>
      store.update({ ...current, spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] } }),
    );
    const handler = createControllersHandler({ store, clock: Date.now, log: silentLogger });

    expect(passesFilters(heartbeat, main?.filterPatterns ?? [])).toBe(true);
    expect(passesFilters(heartbeat, leases?.filterPatterns ?? [])).toBe(false);
    expect(streamRecordTriggers(heartbeat)).toBe(false);
    expect(await handler({ Records: [heartbeat] }, {} as never)).toEqual({ ran: false });
    expect(streamRecordTriggers(taint)).toBe(true);
  });

  it('a Lease renewal reaches only the lease mapping, and is read from its new image', async () => {
    const lease: Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'n1', namespace: 'kube-node-lease' },
      spec: { holderIdentity: 'n1', renewTime: '2026-12-01T12:00:00.000Z' },
    };
    const created = await store.create(lease);
    const renewed = await written(created, () =>
      store.update({ ...lease, spec: { ...lease.spec, renewTime: '2026-12-01T12:00:40.000Z' } }),
    );

    expect(passesFilters(renewed, leases?.filterPatterns ?? [])).toBe(true);
    expect(passesFilters(renewed, main?.filterPatterns ?? [])).toBe(false);
    expect(leaseOfRecord(renewed)?.lease.spec?.renewTime).toBe('2026-12-01T12:00:40.000Z');
    expect(streamRecordTriggers(renewed)).toBe(false);
  });

  it("a Lease renewed in one conditional write (renewLeaseObject) is read from its image's renewal attributes", async () => {
    const lease: Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'n2', namespace: 'kube-node-lease' },
      spec: { holderIdentity: 'n2', renewTime: '2026-12-01T12:00:00.000Z' },
    };
    const created = await store.create(lease);
    const renewed = await written(created, () =>
      store.renewLeaseObject(
        { kind: 'Lease', namespace: 'kube-node-lease', name: 'n2' },
        { holder: 'n2', previousRenewTime: '2026-12-01T12:00:00.000Z', renewTime: '2026-12-01T12:00:40.000Z' },
      ),
    );

    expect(passesFilters(renewed, leases?.filterPatterns ?? [])).toBe(true);
    expect(leaseOfRecord(renewed)?.lease.spec?.renewTime).toBe('2026-12-01T12:00:40.000Z');
    expect(leaseOfRecord(renewed)?.lease.metadata.resourceVersion).not.toBe(created.metadata.resourceVersion);
    expect(streamRecordTriggers(renewed)).toBe(false);
  });
});
