/** The StateStore backends the conformance suite runs against; a new backend is one entry here. */
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dynalite from 'dynalite';
import { DynamoStore } from '../../functions/store/dynamodb';
import { MemoryStore } from '../../functions/store/memory';
import { SqliteStore } from '../../functions/store/sqlite';
import type { Clock, StateStore } from '../../functions/store/types';

export interface Backend {
  name: string;
  open(clock: Clock): Promise<StateStore>;
}

/** One in-process dynalite (a DynamoDB-compatible server) per test file; a fresh table per open. */
let dynamo: { server: ReturnType<typeof dynalite>; endpoint: string } | undefined;
let tables = 0;

async function openDynamo(clock: Clock): Promise<StateStore> {
  if (!dynamo) {
    const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    dynamo = { server, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  }
  const options = {
    table: `ferry-${process.pid}-${tables++}`,
    client: {
      endpoint: dynamo.endpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    },
    clock,
  };
  await DynamoStore.ensureTable(options);
  return DynamoStore.open(options);
}

/** Stops the shared dynalite server (afterAll of a suite that opened DynamoDB stores). */
export async function closeBackends(): Promise<void> {
  const server = dynamo?.server;
  dynamo = undefined;
  if (server) await new Promise((resolve) => server.close(() => resolve(undefined)));
}

export const backends: Backend[] = [
  { name: 'memory', open: async (clock) => new MemoryStore(clock) },
  {
    name: 'sqlite',
    open: async (clock) => SqliteStore.open(join(mkdtempSync(join(tmpdir(), 'ferry-store-')), 'ferry.db'), clock),
  },
  { name: 'dynamodb (dynalite)', open: openDynamo },
];
