/**
 * DynamoDB Local (AWS's own emulator, with TransactWriteItems, which dynalite lacks) for the store
 * conformance suite. Its licence is proprietary, so it is never committed: the first run fetches
 * it with `npm pack amplify-dynamodb-simulator` (the npm package that ships it) into
 * ~/.cache/ferry/dynamodb-local, or takes FERRY_DYNAMODB_LOCAL (a folder holding DynamoDBLocal.jar).
 * It runs on Java 17: `java -jar DynamoDBLocal.jar -inMemory`, ready in about 3 s.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';

const PACKAGE = 'amplify-dynamodb-simulator@2.9.30';
const CACHE = join(homedir(), '.cache/ferry/dynamodb-local');

/** The folder holding DynamoDBLocal.jar, fetched on first use; or why there is none. */
export function dynamoDbLocalHome(): { home: string } | { missing: string } {
  const given = process.env.FERRY_DYNAMODB_LOCAL;
  if (given)
    return existsSync(join(given, 'DynamoDBLocal.jar'))
      ? { home: given }
      : { missing: `no DynamoDBLocal.jar in ${given}` };
  const home = join(CACHE, 'package/emulator');
  if (existsSync(join(home, 'DynamoDBLocal.jar'))) return { home };
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
  } catch {
    return { missing: 'no java on PATH (DynamoDB Local needs Java 17)' };
  }
  try {
    mkdirSync(CACHE, { recursive: true });
    execFileSync('npm', ['pack', PACKAGE, '--silent'], { cwd: CACHE, stdio: 'ignore', timeout: 180_000 });
    const tarball = readdirSync(CACHE).find((f) => f.endsWith('.tgz'));
    if (!tarball) return { missing: `npm pack ${PACKAGE} wrote no tarball` };
    execFileSync('tar', ['xzf', tarball], { cwd: CACHE, stdio: 'ignore' });
    renameSync(join(CACHE, tarball), join(CACHE, `${tarball}.done`));
  } catch (err) {
    return { missing: `fetching ${PACKAGE}: ${(err as Error).message.split('\n')[0]}` };
  }
  return existsSync(join(home, 'DynamoDBLocal.jar')) ? { home } : { missing: `${PACKAGE} holds no DynamoDBLocal.jar` };
}

export interface DynamoDbLocal {
  endpoint: string;
  stop(): Promise<void>;
}

/** Starts DynamoDB Local in memory on a free loopback port and waits until it answers. */
export async function startDynamoDbLocal(home: string, timeoutMs = 30_000): Promise<DynamoDbLocal> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    'java',
    [
      '-Djava.library.path=DynamoDBLocal_lib',
      '-jar',
      'DynamoDBLocal.jar',
      '-inMemory',
      '-disableTelemetry',
      '-port',
      String(port),
    ],
    { cwd: home, stdio: 'ignore' },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const stop = async () => {
    client.destroy();
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await client.send(new ListTablesCommand({}));
      return { endpoint, stop };
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`DynamoDB Local did not answer on ${endpoint}: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
