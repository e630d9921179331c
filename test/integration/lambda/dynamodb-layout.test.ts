/**
 * The DynamoDB table as the store lays it out (issue 12 item 5): no counter item read by every
 * list and written by every write, and the kinds that grow large spread over shards, each item
 * naming its kind in an attribute. Read with a raw client under the store, against dynalite.
 */
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStore, partitionKeys, SHARDS } from '../../../functions/store/dynamodb';

describe('the DynamoDB store layout', () => {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  let store: DynamoStore;
  let raw: DynamoDBClient;
  const commands: string[] = [];

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const client = {
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
    await DynamoStore.ensureTable({ table: 'layout', client });
    store = await DynamoStore.open({ table: 'layout', client });
    // Every command the store sends, with the partition key it reads or writes.
    (store as unknown as { db: DynamoDBClient }).db.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: { pk?: { S?: string } }; Item?: { pk?: { S?: string } } };
        commands.push(`${context.commandName} ${input.Key?.pk?.S ?? input.Item?.pk?.S ?? ''}`.trim());
        return next(args);
      },
      { step: 'initialize' },
    );
    raw = new DynamoDBClient(client);
  });

  afterAll(async () => {
    raw.destroy();
    await store.close();
    await new Promise((resolve) => server.close(() => resolve(undefined)));
  });

  it('writes and lists without touching any shared item, and spreads Pods over their shards', async () => {
    // act
    for (let i = 0; i < 40; i++) {
      await store.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `p-${i}`, namespace: `ns-${i % 4}` },
        spec: { containers: [{ name: 'c', image: 'i' }] },
      });
    }
    await store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'ns-0' } });
    commands.length = 0;
    const listed = await store.list('Pod');
    const listCommands = [...commands];
    const { Items = [] } = await raw.send(new ScanCommand({ TableName: 'layout' }));

    // assess
    expect(listed.items).toHaveLength(40);
    expect(listCommands).toEqual(Array(SHARDS.Pod).fill('QueryCommand'));
    const partitions = new Set(Items.map((i) => i.pk?.S));
    expect([...partitions].filter((p) => p?.startsWith('~'))).toEqual([]);
    const podShards = [...partitions].filter((p) => p?.startsWith('Pod'));
    expect(podShards.length).toBeGreaterThan(1);
    for (const p of podShards) expect(partitionKeys('Pod')).toContain(p);
    expect(partitions.has('ConfigMap')).toBe(true);
    for (const item of Items) expect(item.kind?.S).toBe(JSON.parse(item.body?.S ?? '{}').kind);
  });

  it('a get of a sharded object is one GetItem on its shard', async () => {
    commands.length = 0;
    const got = await store.get({ kind: 'Pod', namespace: 'ns-1', name: 'p-1' });
    expect(got?.metadata.name).toBe('p-1');
    expect(commands).toHaveLength(1);
    expect(commands[0]).toMatch(/^GetItemCommand Pod#[0-3]$/);
  });

  it('an update is conditional on the stored version only: a read and a put, nothing else', async () => {
    const pod = await store.get({ kind: 'Pod', namespace: 'ns-2', name: 'p-2' });
    commands.length = 0;
    const updated = await store.update({ ...(pod as NonNullable<typeof pod>), status: { phase: 'Running' } });
    expect(commands.map((c) => c.split(' ')[0])).toEqual(['GetItemCommand', 'PutItemCommand']);
    expect(BigInt(updated.metadata.resourceVersion as string)).toBeGreaterThan(
      BigInt(pod?.metadata.resourceVersion as string),
    );
  });
});
