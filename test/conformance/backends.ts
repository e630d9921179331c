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
import { type DynamoDbLocal, dynamoDbLocalHome, startDynamoDbLocal } from '../helpers/dynamodb-local';

export interface Backend {
  name: string;
  open(clock: Clock): Promise<StateStore>;
  /** Why the backend cannot run here at all (the suite skips it, saying so). */
  unavailable?: string;
  /** Why `transact` cannot be tested on this backend (dynalite has no TransactWriteItems). */
  noTransact?: string;
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
  return openTable(dynamo.endpoint, clock);
}

/** One DynamoDB Local per test file, started on first use (about 3 s); a fresh table per open. */
const localHome = dynamoDbLocalHome();
let local: Promise<DynamoDbLocal> | undefined;

async function openDynamoLocal(clock: Clock): Promise<StateStore> {
  if (!('home' in localHome)) throw new Error(localHome.missing);
  local ??= startDynamoDbLocal(localHome.home);
  return openTable((await local).endpoint, clock);
}

async function openTable(endpoint: string, clock: Clock): Promise<StateStore> {
  const options = {
    table: `ferry-${process.pid}-${tables++}`,
    client: {
      endpoint,
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
  const emulator = local;
  local = undefined;
  if (emulator) await (await emulator).stop();
}

export const backends: Backend[] = [
  { name: 'memory', open: async (clock) => new MemoryStore(clock) },
  {
    name: 'sqlite',
    open: async (clock) => SqliteStore.open(join(mkdtempSync(join(tmpdir(), 'ferry-store-')), 'ferry.db'), clock),
  },
  { name: 'dynamodb (dynalite)', open: openDynamo, noTransact: 'dynalite has no TransactWriteItems' },
  {
    name: 'dynamodb (DynamoDB Local)',
    open: openDynamoLocal,
    ...('missing' in localHome ? { unavailable: localHome.missing } : {}),
  },
];
