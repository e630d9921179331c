/**
 * A child process for the SQLite multi-process tests.
 * `race FILE N`: N rounds of read-then-conditional-update of one counter; prints wins and conflicts.
 * `append FILE`: creates objects forever, printing each name after its create returned (acknowledged).
 */
import { ConflictError } from '../../functions/errors';
import { SqliteStore } from '../../functions/store/sqlite';

const [mode, file, rounds] = process.argv.slice(2) as [string, string, string];
const store = await SqliteStore.open(file);
const ref = { kind: 'ConfigMap', namespace: 'default', name: 'counter' };

if (mode === 'race') {
  let wins = 0;
  let conflicts = 0;
  for (let i = 0; i < Number(rounds); i++) {
    const cm = await store.get(ref);
    if (!cm) throw new Error('counter missing');
    const data = cm.data as { n: string };
    try {
      await store.update({ ...cm, data: { n: String(Number(data.n) + 1) } });
      wins++;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      conflicts++;
    }
  }
  process.stdout.write(`${JSON.stringify({ wins, conflicts })}\n`);
  await store.close();
} else {
  for (let i = 0; ; i++) {
    await store.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `cm-${i}`, namespace: 'default' },
      data: { i: String(i) },
    });
    process.stdout.write(`cm-${i}\n`);
  }
}
