/** The StateStore backends the conformance suite runs against; a new backend is one entry here. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../../functions/store/memory';
import { SqliteStore } from '../../functions/store/sqlite';
import type { Clock, StateStore } from '../../functions/store/types';

export interface Backend {
  name: string;
  open(clock: Clock): Promise<StateStore>;
}

export const backends: Backend[] = [
  { name: 'memory', open: async (clock) => new MemoryStore(clock) },
  {
    name: 'sqlite',
    open: async (clock) => SqliteStore.open(join(mkdtempSync(join(tmpdir(), 'ferry-store-')), 'ferry.db'), clock),
  },
];
