/**
 * The real kubectl against ferry over HTTPS (kubectl sends a bearer token only over TLS): the
 * everyday verbs a Kubernetes user reaches for. kubectl is not part of ferry's install: where it
 * does not run this suite skips, saying why (under CI it fails instead: test/helpers/kubectl.ts).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LocalControlPlane } from '../../../functions/runtime/local';
import { describeKubectl, runKubectl, startKubectlPlane } from '../../helpers/kubectl';

const EXAMPLES = join(import.meta.dirname, '../../../examples');

describeKubectl('kubectl against ferry', () => {
  let plane: LocalControlPlane;
  let dir: string;
  let kubeconfig: string;
  let stop = async () => {};

  beforeAll(async () => {
    ({ plane, dir, kubeconfig, stop } = await startKubectlPlane('ferry-kubectl-', { cpu: '4' }));
  });

  afterAll(() => stop());

  const kubectl = (...args: string[]) => runKubectl(kubeconfig, args);

  it('serves HTTPS at the URL it reports', () => {
    expect(plane.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('applies the examples (client-side apply: strategic merge patch), then re-applies them unchanged', async () => {
    // act
    const first = await kubectl('apply', '-f', EXAMPLES);
    const second = await kubectl('apply', '-f', EXAMPLES);

    // assess
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('deployment.apps/web created');
    expect(first.stdout).toContain('service/web created');
    expect(second.stdout).toContain('deployment.apps/web unchanged');
  });

  it('diffs a changed manifest against the live object (a server-side dry run) and explains fields from the OpenAPI', async () => {
    // prepare
    const manifest = await readFile(join(EXAMPLES, 'web-deployment.yaml'), 'utf8');
    const changed = join(dir, 'web-diff.yaml');
    await writeFile(changed, manifest.replaceAll('ferry.local/busybox:1', 'ferry.local/busybox:9'));

    // act
    const diff = await kubectl('diff', '-f', changed);
    const image = await kubectl('get', 'deployment', 'web', '-o', 'jsonpath={.spec.template.spec.containers[0].image}');
    const explained = await kubectl('explain', 'deployment.spec.replicas');

    // assess: diff exits 1 when there are differences
    expect(diff.code, diff.stderr).toBe(1);
    expect(diff.stdout).toMatch(/^-\s+image: ferry\.local\/busybox:1$/m);
    expect(diff.stdout).toMatch(/^\+\s+image: ferry\.local\/busybox:9$/m);
    expect(image.stdout).toBe('ferry.local/busybox:1');
    expect(explained.code, explained.stderr).toBe(0);
    expect(explained.stdout).toMatch(/FIELD:\s+replicas <integer>/);
  });

  it('applies a changed manifest (a new image): the container is patched by name, the rest kept', async () => {
    // prepare
    const manifest = await readFile(join(EXAMPLES, 'web-deployment.yaml'), 'utf8');
    const changed = join(dir, 'web-v2.yaml');
    await writeFile(changed, manifest.replaceAll('ferry.local/busybox:1', 'ferry.local/busybox:2'));

    // act
    const applied = await kubectl('apply', '-f', changed);
    const container = await kubectl('get', 'deployment', 'web', '-o', 'jsonpath={.spec.template.spec.containers[0]}');

    // assess
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('deployment.apps/web configured');
    const c = JSON.parse(container.stdout) as { image: string; command: string[]; ports: unknown[] };
    expect(c.image).toBe('ferry.local/busybox:2');
    expect(c.command[0]).toBe('sh');
    expect(c.ports).toHaveLength(1);
  });

  it('validates on the server by default (kubectl --validate=strict): a typo fails naming the field, warn drops it', async () => {
    // prepare
    const typo = join(dir, 'typo.yaml');
    await writeFile(
      typo,
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndata:\n  a: "1"\ndtaa:\n  b: "2"\n',
    );

    // act
    const strict = await kubectl('apply', '-f', typo);
    const created = await kubectl('create', '-f', typo);
    const warned = await kubectl('create', '-f', typo, '--validate=warn');
    const stored = await kubectl('get', 'configmap', 'typo', '-o', 'jsonpath={.data}');
    await kubectl('delete', 'configmap', 'typo');

    // assess
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toContain('strict decoding error: unknown field "dtaa"');
    expect(strict.stderr).not.toContain('openapi');
    expect(created.stderr).toContain('unknown field "dtaa"');
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toContain('Warning: unknown field "dtaa"');
    expect(JSON.parse(stored.stdout)).toEqual({ a: '1' });
  });

  it('applies a v1 List file with default validation: each item is checked by the server as it is sent', async () => {
    // prepare
    const list = (second: object) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'listed-1' }, data: { a: '1' } },
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'listed-2' }, ...second },
        ],
      });
    const good = join(dir, 'list-good.json');
    const typo = join(dir, 'list-typo.json');
    await writeFile(good, list({ data: { b: '2' } }));
    await writeFile(typo, list({ dtaa: { b: '2' } }));

    // act
    const applied = await kubectl('apply', '-f', good);
    const refused = await kubectl('apply', '-f', typo);
    await kubectl('delete', '-f', good);

    // assess
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('configmap/listed-2 created');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('strict decoding error: unknown field "dtaa"');
  });

  it('applies a manifest that drops an env var: the patch kubectl computes from the OpenAPI removes it', async () => {
    // prepare
    const manifest = (env: string) =>
      [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata: {name: envy}',
        'spec:',
        '  selector: {matchLabels: {app: envy}}',
        '  template:',
        '    metadata: {labels: {app: envy}}',
        '    spec:',
        '      containers:',
        `      - {name: c, image: ferry.local/busybox:1, env: [${env}]}`,
      ].join('\n');
    const file = join(dir, 'envy.yaml');
    await writeFile(file, manifest('{name: A, value: "1"}, {name: B, value: "2"}'));
    const first = await kubectl('apply', '-f', file);
    await writeFile(file, manifest('{name: B, value: "3"}'));

    // act
    const second = await kubectl('apply', '-f', file);
    const env = await kubectl('get', 'deployment', 'envy', '-o', 'jsonpath={.spec.template.spec.containers[0].env}');
    await kubectl('delete', 'deployment', 'envy');

    // assess
    expect([first.code, second.code], `${first.stderr}${second.stderr}`).toEqual([0, 0]);
    expect(second.stderr).not.toContain('warning');
    expect(JSON.parse(env.stdout)).toEqual([{ name: 'B', value: '3' }]);
  });

  it('applies server-side: creates, records kubectl as the manager, and answers another manager with the conflict', async () => {
    // prepare
    const manifest = (name: string, replicas: number) =>
      [
        'apiVersion: apps/v1',
        'kind: Deployment',
        `metadata: {name: ${name}, labels: {app: ${name}}}`,
        'spec:',
        `  replicas: ${replicas}`,
        `  selector: {matchLabels: {app: ${name}}}`,
        '  template:',
        `    metadata: {labels: {app: ${name}}}`,
        '    spec: {containers: [{name: c, image: ferry.local/busybox:1}]}',
      ].join('\n');
    const file = join(dir, 'ssa.yaml');
    const other = join(dir, 'ssa-other.yaml');
    await writeFile(file, manifest('ssa', 1));
    await writeFile(other, 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ssa}\nspec: {replicas: 4}\n');

    // act
    const created = await kubectl('apply', '--server-side', '-f', file);
    const again = await kubectl('apply', '--server-side', '-f', file);
    const managers = await kubectl('get', 'deployment', 'ssa', '-o', 'jsonpath={.metadata.managedFields[*].manager}');
    const conflict = await kubectl('apply', '--server-side', '--field-manager=autoscaler', '-f', other);
    const forced = await kubectl(
      'apply',
      '--server-side',
      '--field-manager=autoscaler',
      '--force-conflicts',
      '-f',
      other,
    );
    const replicas = await kubectl('get', 'deployment', 'ssa', '-o', 'jsonpath={.spec.replicas}');
    const back = await kubectl('apply', '--server-side', '-f', file);
    await kubectl('delete', 'deployment', 'ssa');

    // assess
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('deployment.apps/ssa serverside-applied');
    expect(again.code, again.stderr).toBe(0);
    expect(managers.stdout).toBe('kubectl');
    expect(conflict.code).not.toBe(0);
    expect(conflict.stderr).toContain('Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas');
    expect(conflict.stderr).toContain('--force-conflicts');
    expect(forced.code, forced.stderr).toBe(0);
    expect(replicas.stdout).toBe('4');
    expect(back.stderr).toContain('conflict with "autoscaler": .spec.replicas');
  });

  it('moves an object from client-side to server-side apply (kubectl migrates its managedFields)', async () => {
    // prepare
    const file = join(dir, 'moving.yaml');
    await writeFile(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: moving}\ndata: {a: "1", b: "2"}\n');
    const clientSide = await kubectl('apply', '-f', file);
    const before = await kubectl('get', 'configmap', 'moving', '-o', 'jsonpath={.metadata.managedFields[*].manager}');
    await writeFile(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: moving}\ndata: {a: "1"}\n');

    // act
    const serverSide = await kubectl('apply', '--server-side', '-f', file);
    const after = await kubectl('get', 'configmap', 'moving', '-o', 'jsonpath={.metadata.managedFields[*].manager}');
    const data = await kubectl('get', 'configmap', 'moving', '-o', 'jsonpath={.data}');
    await kubectl('delete', 'configmap', 'moving');

    // assess
    expect(clientSide.code, clientSide.stderr).toBe(0);
    expect(before.stdout).toBe('kubectl-client-side-apply');
    expect(serverSide.code, serverSide.stderr).toBe(0);
    expect(serverSide.stderr).toBe('');
    expect(after.stdout.split(' ')).not.toContain('kubectl-client-side-apply');
    expect(after.stdout.split(' ')).toContain('kubectl');
    // b was the client-side apply's; once migrated, the server-side apply that leaves it out removes it.
    expect(JSON.parse(data.stdout)).toEqual({ a: '1' });
  });

  it('gets, describes, scales and deletes', async () => {
    // act
    const ns = await kubectl('get', 'namespaces', '-o', 'name');
    const replicas = await kubectl('get', 'deployment', 'web', '-o', 'jsonpath={.spec.replicas}');
    const described = await kubectl('describe', 'deployment', 'web');
    const table = await kubectl('get', 'deployments');
    const allNamespaces = await kubectl('get', 'pods', '-A');
    const scaled = await kubectl('scale', 'deployment', 'web', '--replicas=1');
    const after = await kubectl('get', 'deployment', 'web', '-o', 'jsonpath={.spec.replicas}');
    const deleted = await kubectl('delete', 'service', 'web');
    const gone = await kubectl('get', 'service', 'web');

    // assess
    expect(ns.stdout.split('\n')).toEqual(expect.arrayContaining(['namespace/default', 'namespace/kube-system']));
    expect(replicas.stdout).toBe('3');
    expect(described.stdout).toMatch(/Replicas:\s+3 desired/);
    // Server-side columns (a Table), the same as ferry get's.
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$/);
    expect(table.stdout.split('\n')[1]).toMatch(/^web\s+\d\/3\s+/);
    expect(allNamespaces.stdout.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
    expect(scaled.stdout).toContain('deployment.apps/web scaled');
    expect(after.stdout).toBe('1');
    expect(deleted.stdout).toContain('service "web" deleted');
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain('services "web" not found');
  });

  it('prints Pod Security warnings, and the Forbidden errors of Pod Security and ResourceQuota', async () => {
    // prepare
    await kubectl('create', 'namespace', 'psa');
    const label = await kubectl('label', 'namespace', 'psa', 'pod-security.kubernetes.io/warn=restricted');
    const quota = await kubectl('-n', 'psa', 'create', 'quota', 'q', '--hard=pods=1');

    // act
    const warned = await kubectl('-n', 'psa', 'run', 'web', '--image=ferry.local/busybox:1');
    const host = await kubectl(
      '-n',
      'psa',
      'run',
      'host',
      '--image=ferry.local/busybox:1',
      '--overrides={"spec":{"volumes":[{"name":"h","hostPath":{"path":"/etc"}}]}}',
    );
    const over = await kubectl('-n', 'psa', 'run', 'second', '--image=ferry.local/busybox:1');

    // assess
    expect([label.code, quota.code, warned.code]).toEqual([0, 0, 0]);
    expect(warned.stderr).toMatch(/^Warning: would violate PodSecurity "restricted:latest": /m);
    expect(host.stderr).toMatch(/Forbidden.*violates PodSecurity "baseline:latest": hostPath volumes/);
    expect(over.stderr).toMatch(/Forbidden.*exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1/);
  });

  it('creates, lists and describes ServiceAccounts, Roles and RoleBindings with kubectl create', async () => {
    // act
    const sa = await kubectl('create', 'serviceaccount', 'robot');
    const role = await kubectl('create', 'role', 'pod-reader', '--verb=get,list', '--resource=pods,deployments.apps');
    const binding = await kubectl('create', 'rolebinding', 'rb', '--role=pod-reader', '--serviceaccount=default:robot');
    const sas = await kubectl('get', 'serviceaccounts');
    const bindings = await kubectl('get', 'rolebindings', '-o', 'wide');
    const described = await kubectl('describe', 'role', 'pod-reader');

    // assess
    expect([sa.code, role.code, binding.code], `${sa.stderr}${role.stderr}${binding.stderr}`).toEqual([0, 0, 0]);
    expect(sas.stdout.split('\n')[0]).toMatch(/^NAME\s+SECRETS\s+AGE$/);
    expect(sas.stdout).toMatch(/^robot\s+0\s+/m);
    expect(sas.stdout).toMatch(/^default\s+0\s+/m);
    expect(bindings.stdout).toMatch(/^rb\s+Role\/pod-reader\s+\S+\s+default\/robot$/m);
    expect(described.stdout).toMatch(/deployments\.apps\s+\[\]\s+\[\]\s+\[get list\]/);
  });

  it('is refused with a forged token, and a reader token may not write', async () => {
    // prepare
    const { issueToken } = await import('../../../functions/tokens');
    const reader = (await issueToken(plane.deps, { role: 'reader' })).token;

    // act
    const forged = await kubectl('get', 'pods', '--token=ferry_admin_forged');
    const asReader = await kubectl('--token', reader, 'delete', 'deployment', 'web');

    // assess
    expect(forged.code).not.toBe(0);
    expect(forged.stderr).toMatch(/must be logged in|Unauthorized/);
    expect(asReader.code).not.toBe(0);
    expect(asReader.stderr).toMatch(/Forbidden|forbidden/);
  });

  it('follows a rollout with kubectl rollout status (list, then watch) until it succeeds', async () => {
    // prepare
    await kubectl('apply', '-f', join(EXAMPLES, 'web-deployment.yaml'));
    await kubectl('scale', 'deployment', 'web', '--replicas=3');

    // act
    const status = await kubectl('rollout', 'status', 'deployment/web', '--timeout=30s');

    // assess
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('deployment "web" successfully rolled out');
  });

  it('streams changes to kubectl get -w as they happen', async () => {
    // act
    const watching = kubectl('get', 'configmaps', '-w', '--request-timeout=4s', '-o', 'name');
    await new Promise((r) => setTimeout(r, 1000));
    await kubectl('create', 'configmap', 'live', '--from-literal=a=1');
    await kubectl('delete', 'configmap', 'live');
    const out = await watching;

    // assess
    expect(out.stdout.split('\n').filter((l) => l === 'configmap/live').length).toBeGreaterThanOrEqual(2);
  });

  it('replays to a watch from a list the deletions made since, and tells a too old resourceVersion to relist (410)', async () => {
    // prepare: what an informer does, list then watch from the list's resourceVersion
    await kubectl('create', 'configmap', 'short-lived', '--from-literal=a=1');
    const list = await kubectl('get', '--raw', '/api/v1/namespaces/default/configmaps');
    const rv = (JSON.parse(list.stdout) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    await kubectl('delete', 'configmap', 'short-lived');
    const watch = (from: string) =>
      kubectl('get', '--raw', `/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${from}&timeoutSeconds=1`);

    // act
    const resumed = await watch(rv);
    const tooOld = await watch('1');

    // assess
    const events = resumed.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; object: { metadata: { name: string } } });
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['DELETED short-lived']);
    expect(JSON.parse(tooOld.stdout)).toMatchObject({
      type: 'ERROR',
      object: { kind: 'Status', code: 410, reason: 'Expired' },
    });
  });

  it('reads container output with kubectl logs (the same relay as ferry logs)', async () => {
    // prepare: play the node's agent, answering each log request for its pods
    const { answerLogRequest, LOG_REQUEST_KIND } = await import('../../../functions/api/pod-logs');
    const unwatch = plane.store.watch((ev) => {
      if (ev.object.kind !== LOG_REQUEST_KIND || ev.type !== 'ADDED') return;
      const spec = ev.object.spec as { nodeName: string; tailLines: number; stream?: unknown };
      if (spec.stream) return; // -f, --since, --timestamps: exec.test.ts
      void answerLogRequest(plane.deps, spec.nodeName, {
        namespace: ev.object.metadata.namespace as string,
        name: ev.object.metadata.name,
        content: `hello from the node (tail ${spec.tailLines})\n`,
      });
    });
    const pod = (await kubectl('get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}')).stdout;

    // act
    const logs = await kubectl('logs', pod, '--tail=7');
    const named = await kubectl('logs', pod, '-c', 'httpd', '--tail=3');
    const byDeployment = await kubectl('logs', 'deployment/web', '--tail=2');
    const unknownContainer = await kubectl('logs', pod, '-c', 'nope');
    unwatch();

    // assess
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toBe('hello from the node (tail 7)\n');
    expect(named.stdout).toBe('hello from the node (tail 3)\n');
    expect(byDeployment.stdout).toBe('hello from the node (tail 2)\n');
    expect(unknownContainer.stderr).toContain('container nope is not valid for pod');
  });
});
