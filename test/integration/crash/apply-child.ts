/**
 * A child process for the apply crash test: `apply-child.ts FILE CONFIGMAPS SERVICES` — the API
 * core on a SQLite file applies one bundle of that many ConfigMaps and Services (each Service
 * claiming a node port). Prints
 * `ready` before sending the apply and `done <ms>` after it answered 200; the parent kills it with
 * SIGKILL somewhere in between.
 */
import { stringify } from 'yaml';
import { SqliteStore } from '../../../functions/store/sqlite';
import { startApi } from '../../unit/api/harness';

const [file, configMaps, services] = process.argv.slice(2) as [string, string, string];
const store = await SqliteStore.open(file);
const api = await startApi(store);
const docs: unknown[] = [];
for (let i = 0; i < Number(configMaps); i++) {
  docs.push({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `cm-${i}`, labels: { bundle: 'crash' } },
    data: { i: String(i), padding: 'x'.repeat(200) },
  });
}
for (let i = 0; i < Number(services); i++) {
  docs.push({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `svc-${i}`, labels: { bundle: 'crash' } },
    spec: { selector: { app: `a${i}` }, ports: [{ port: 80 }] },
  });
}
const raw = docs.map((d) => stringify(d)).join('---\n');
process.stdout.write('ready\n');
const started = Date.now();
const res = await api.send('POST', '/apis/ferry.dev/v1/apply', { raw, contentType: 'application/yaml' });
if (res.status !== 200) throw new Error(`apply answered ${res.status}: ${res.json.message}`);
process.stdout.write(`done ${Date.now() - started}\n`);
await store.close();
