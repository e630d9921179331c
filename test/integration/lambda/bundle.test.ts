/**
 * The Lambda artifact itself: `npm run build`'s dist/functions/*.mjs, copied alone into an empty
 * directory (as in the deployment zip, with no node_modules), loads in a fresh Node process and
 * answers an API Gateway event from DynamoDB (dynalite).
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStore } from '../../../functions/store/dynamodb';
import { buildDist } from '../../helpers/build';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../../..');

describe('the Lambda bundle', () => {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  let endpoint = '';
  let dir = '';

  beforeAll(async () => {
    await buildDist();
    dir = mkdtempSync(join(tmpdir(), 'ferry-lambda-zip-'));
    for (const f of readdirSync(join(root, 'dist/functions')))
      if (f.endsWith('.mjs')) cpSync(join(root, 'dist/functions', f), join(dir, f));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 120_000);

  afterAll(async () => {
    await new Promise((resolve) => server.close(() => resolve(undefined)));
  });

  it('loads with nothing but its own files and serves from DynamoDB', async () => {
    const options = {
      table: 'ferry-bundle',
      client: { endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } },
    };
    await DynamoStore.ensureTable(options);
    const event = {
      version: '2.0',
      routeKey: '$default',
      rawPath: '/version',
      rawQueryString: '',
      headers: {},
      requestContext: { http: { method: 'GET', path: '/version', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1' } },
      isBase64Encoded: false,
    };
    const script = `import('./lambda.mjs').then((m) => m.api(${JSON.stringify(event)}, {})).then((r) => process.stdout.write(JSON.stringify(r)))`;

    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? '',
        FERRY_TABLE: 'ferry-bundle',
        FERRY_DYNAMODB_ENDPOINT: endpoint,
        AWS_REGION: 'local',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        FERRY_LOG_LEVEL: 'error',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });

    const res = JSON.parse(stdout) as { statusCode: number; body: string };
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ major: '1' });
    const store = await DynamoStore.open(options);
    expect((await store.list('Namespace')).items.map((n) => n.metadata.name)).toContain('default');
    await store.close();
  });
});
