/**
 * SQLite's index of the ConfigMaps and Secrets each pod refers to (schemas/config-refs.ts): one
 * `config_refs` row per pod and reference, written in the pod write's own transaction, so that a
 * list of the pods referring to one (`referringTo`, types.ts) reads the index instead of every
 * pod. A ConfigMap's write looks for them (functions/node-desired.ts); scanning the namespace's
 * pods for each was the top of a 5,000-node server's profile (about 150 ms a write at 50,000
 * pods: the rows are too large to scan fast).
 */
import type Database from 'better-sqlite3';
import { configRefs } from '../../schemas/config-refs';
import type { Obj } from './types';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS config_refs (
  ref TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  PRIMARY KEY (ref, namespace, name)
) WITHOUT ROWID;
`;

type Row = { body: string; rv: number };

export class ConfigRefsIndex {
  private readonly stmt;

  constructor(db: Database.Database) {
    db.exec(SCHEMA);
    this.stmt = {
      // CROSS JOIN: the refs first (SQLite keeps that order), else the planner walks every pod to
      // give the ORDER BY for free; the refs' key already gives it.
      referring: db.prepare<[string], Row>(
        "SELECT o.body, o.rv FROM config_refs r CROSS JOIN objects o ON o.kind = 'Pod' AND o.namespace = r.namespace AND o.name = r.name WHERE r.ref = ? ORDER BY r.namespace, r.name",
      ),
      add: db.prepare<[string, string, string]>(
        'INSERT OR IGNORE INTO config_refs (ref, namespace, name) VALUES (?, ?, ?)',
      ),
      drop: db.prepare<[string, string, string]>(
        'DELETE FROM config_refs WHERE ref = ? AND namespace = ? AND name = ?',
      ),
      built: db.prepare<[], { value: number }>("SELECT value FROM meta WHERE key = 'config_refs'"),
      markBuilt: db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('config_refs', 1)"),
    };
  }

  /** The rows of the pods that refer to `ref` (`ConfigMap/ns/name`), by namespace and name. */
  referring(ref: string): Row[] {
    return this.stmt.referring.all(ref);
  }

  /** A pod written (`before` undefined: created; `after` undefined: deleted), inside its transaction. */
  written(before: Obj | undefined, after: Obj | undefined): void {
    const pod = (after ?? before) as Obj;
    const had = before ? configRefs(before) : [];
    const has = after ? configRefs(after) : [];
    const ns = pod.metadata.namespace ?? '';
    // Most writes (status, binds) change no reference: nothing is written then.
    for (const r of had) if (!has.includes(r)) this.stmt.drop.run(r, ns, pod.metadata.name);
    for (const r of has) if (!had.includes(r)) this.stmt.add.run(r, ns, pod.metadata.name);
  }

  /**
   * Fills the index from the stored pods, once per file (one from before the table), inside a
   * write transaction. An older ferry writing the file afterwards keeps no rows: a pod it wrote
   * can then miss a config bump until its agent's periodic full resync (agent/agent.ts), the net
   * node-desired.ts names.
   */
  build(storedPods: () => Obj[]): void {
    if (this.stmt.built.get()) return;
    for (const pod of storedPods()) this.written(undefined, pod);
    this.stmt.markBuilt.run();
  }
}
