import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Obj } from '../../../functions/store/types';
import { EXAMPLES, ferry, lines, startTestPlane, type TestPlane } from './harness';

const BAD_DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
spec:
  replicas: -1
  selector:
    matchLabels:
      app: broken
  template:
    metadata:
      labels:
        app: broken
    spec:
      containers:
        - name: app
`;

describe('ferry tokens', () => {
  let t: TestPlane;

  beforeAll(async () => {
    t = await startTestPlane();
  });

  afterAll(async () => {
    await t?.close();
  });

  it('creates a token, prints it once on stdout and lists it without the secret', async () => {
    // act
    const created = await t.ferry(['token', 'create', '--role', 'reader', '--name', 'ci-read', '--description', 'ci']);
    const listed = await t.ferry(['token', 'list']);

    // assess
    expect(created.code).toBe(0);
    const secret = created.stdout.trim();
    expect(lines(created.stdout)).toHaveLength(1);
    expect(secret.length).toBeGreaterThan(16);
    expect(created.stderr).toContain('token "ci-read" created (role reader');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ci-read\s+reader\s+<all>\s+<never>\s+\d+s\s+ci$/m);
    expect(listed.stdout).not.toContain(secret);
  });

  it('creates a bootstrap token for a fleet with --max-uses, bound to a node with --node', async () => {
    // act
    const fleet = await t.ferry([
      'token',
      'create',
      '--role',
      'bootstrap',
      '--ttl',
      '1h',
      '--name',
      'fleet',
      '--max-uses',
      '3',
    ]);
    const bound = await t.ferry([
      'token',
      'create',
      '--role',
      'bootstrap',
      '--ttl',
      '1h',
      '--name',
      'one',
      '--node',
      'web-1',
    ]);
    const bad = await t.ferry(['token', 'create', '--role', 'bootstrap', '--ttl', '1h', '--max-uses', 'many']);

    // assess
    expect([fleet.code, bound.code]).toEqual([0, 0]);
    const stored = await t.plane.store.get<{ spec: Record<string, unknown> } & Obj>({ kind: 'Token', name: 'fleet' });
    expect(stored?.spec.maxUses).toBe(3);
    const one = await t.plane.store.get<{ spec: Record<string, unknown> } & Obj>({ kind: 'Token', name: 'one' });
    expect(one?.spec).toEqual(expect.objectContaining({ nodeName: 'web-1', maxUses: 1 }));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--max-uses "many" is not a whole number');
  });

  it('scopes a deployer token to its namespaces', async () => {
    // prepare
    const created = await t.ferry(['token', 'create', '--role', 'deployer', '--namespace', 'team-a', '--ttl', '1h']);
    const asDeployer = { FERRY_TOKEN: created.stdout.trim() };

    // act
    const forbidden = await t.ferry(['apply', '-f', EXAMPLES], { env: asDeployer });

    // assess
    expect(created.code).toBe(0);
    expect(forbidden.code).toBe(1);
    expect(lines(forbidden.stderr)).toHaveLength(1);
    expect(forbidden.stderr).toMatch(/^error: .*forbidden/i);
  });

  it('rejects a revoked token with one error line and exit code 1', async () => {
    // prepare
    const created = await t.ferry(['token', 'create', '--role', 'reader', '--name', 'short-lived']);
    const asReader = { FERRY_TOKEN: created.stdout.trim() };
    const before = await t.ferry(['get', 'deploy'], { env: asReader });

    // act
    const revoked = await t.ferry(['token', 'revoke', 'short-lived']);
    const after = await t.ferry(['get', 'deploy'], { env: asReader });

    // assess
    expect(before.code).toBe(0);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toBe('token "short-lived" revoked\n');
    expect(after.code).toBe(1);
    expect(lines(after.stderr)).toHaveLength(1);
    expect(after.stderr).toMatch(/^error: /);
    expect(after.stderr).not.toContain(asReader.FERRY_TOKEN);
  });

  it('refuses a ttl that is not a duration as a usage error', async () => {
    // act
    const result = await t.ferry(['token', 'create', '--role', 'reader', '--ttl', 'soon']);

    // assess
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: --ttl "soon" is not a duration such as 90s, 30m, 1h or 7d\n');
  });
});

describe('ferry errors', () => {
  let t: TestPlane;
  let dir: string;

  beforeAll(async () => {
    t = await startTestPlane();
    dir = await mkdtemp(join(tmpdir(), 'ferry-manifests-'));
  });

  afterAll(async () => {
    await t?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints each invalid field of a bad manifest on its own line and writes nothing', async () => {
    // act
    const result = await t.ferry(['apply', '-f', '-'], { stdin: BAD_DEPLOYMENT });
    const get = await t.ferry(['get', 'deploy', 'broken']);

    // assess
    expect(result.code).toBe(1);
    const errLines = lines(result.stderr);
    expect(errLines[0]).toMatch(/^error: .*invalid/);
    expect(errLines.some((l) => /^ {2}.*spec\.replicas: /.test(l))).toBe(true);
    expect(errLines.some((l) => /^ {2}.*spec\.template\.spec\.containers\[0\]\.image: /.test(l))).toBe(true);
    expect(get.code).toBe(1);
  });

  it('names the file and line of malformed YAML and sends nothing', async () => {
    // prepare
    const file = join(dir, 'broken.yaml');
    await writeFile(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [unclosed\n');

    // act
    const result = await t.ferry(['apply', '-f', file]);

    // assess
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/^error: parsing .*broken\.yaml:5:\d+: /);
  });

  it('says clearly that an unknown kind does not exist', async () => {
    // act
    const result = await t.ferry(['get', 'frobnicators']);

    // assess
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: the server doesn\'t have a resource type "frobnicators"\n');
  });

  it('reports a missing object in one line', async () => {
    // act
    const result = await t.ferry(['get', 'deploy', 'nope']);

    // assess
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/^error: .*"nope" not found$/m);
  });

  it('treats an unknown flag and a missing argument as usage errors', async () => {
    // act
    const flag = await t.ferry(['get', 'pods', '--colour']);
    const missing = await t.ferry(['get']);
    const format = await t.ferry(['get', 'pods', '-o', 'xml']);

    // assess
    expect(flag.code).toBe(2);
    expect(lines(flag.stderr)[0]).toBe("error: unknown option '--colour'");
    expect(missing.code).toBe(2);
    expect(format.code).toBe(2);
    expect(format.stderr).toMatch(/^error: unable to match a printer/);
  });

  it('names the server it cannot reach', async () => {
    // prepare
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    await new Promise((done) => server.close(done));
    const url = `http://127.0.0.1:${port}`;

    // act
    const result = await ferry(['get', 'pods'], {
      env: { FERRY_SERVER: url, FERRY_TOKEN: 'x', FERRY_CONFIG: join(dir, 'none.json') },
    });

    // assess
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: cannot reach the ferry server at ${url} (ECONNREFUSED); is \`ferry server\` running?\n`,
    );
    expect(lines(result.stderr)).toHaveLength(1);
  });

  it('prints the client and server versions', async () => {
    // act
    const result = await t.ferry(['version']);

    // assess
    expect(result.code).toBe(0);
    expect(lines(result.stdout)[0]).toMatch(/^Client Version: \d+\.\d+\.\d+/);
    expect(lines(result.stdout)[1]).toMatch(/^Server Version: \S+/);
  });
});
