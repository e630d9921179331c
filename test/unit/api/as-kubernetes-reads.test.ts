/**
 * Issue 14's API items: input is read as Kubernetes reads it — null is unset, YAML is YAML 1.1 as
 * kubectl's go-yaml v2 reads it — fields Kubernetes makes immutable stay so, with a 422 naming the
 * field, and a made-up key inside securityContext is refused like an unknown field anywhere else.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { deployment, pod, type Sent, startApi, type TestApi } from './harness';

const NS = '/api/v1/namespaces/default';
const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments';
const REPLICASETS = '/apis/apps/v1/namespaces/default/replicasets';
const APPLY = '/apis/ferry.dev/v1/apply';
const fields = (res: Sent) => (res.json.details?.causes ?? []).map((c) => c.field);

let api: TestApi;
beforeEach(async () => {
  api = await startApi();
});

const yaml = (text: string) => ({ raw: text, contentType: 'application/yaml' });

describe('null is unset', () => {
  it('stores a ConfigMap sent with data: null, without data', async () => {
    const res = await api.send('POST', `${NS}/configmaps`, {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: null },
    });
    expect(res.status).toBe(201);
    expect(res.json).not.toHaveProperty('data');
  });

  it('applies and creates what `kubectl create deployment --dry-run=client -o yaml` prints', async () => {
    const printed = `apiVersion: apps/v1
kind: Deployment
metadata:
  creationTimestamp: null
  labels:
    app: web
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  strategy: {}
  template:
    metadata:
      creationTimestamp: null
      labels:
        app: web
    spec:
      containers:
      - image: nginx
        name: nginx
        resources: {}
status: {}
`;
    expect((await api.send('POST', APPLY, yaml(printed))).status).toBe(200);
    expect((await api.send('POST', DEPLOYMENTS, { ...yaml(printed.replace('name: web', 'name: web2')) })).status).toBe(
      201,
    );
  });
});

describe('YAML as Kubernetes tools read it (go-yaml v2: YAML 1.1 scalars)', () => {
  const withMode = (mode: string) => `apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: a
    image: x
    volumeMounts:
    - name: cfg
      mountPath: /cfg
  volumes:
  - name: cfg
    configMap:
      name: c
      defaultMode: ${mode}
`;

  it('reads defaultMode: 0755 as octal (493) and 0400 as 256', async () => {
    const a = await api.send('POST', `${NS}/pods`, yaml(withMode('0755')));
    expect(a.status).toBe(201);
    expect(
      (a.json.spec as { volumes: { configMap: { defaultMode: number } }[] }).volumes[0]?.configMap.defaultMode,
    ).toBe(0o755);
    const b = await api.send('POST', `${NS}/pods`, yaml(withMode('0400').replace('name: p', 'name: q')));
    expect(
      (b.json.spec as { volumes: { configMap: { defaultMode: number } }[] }).volumes[0]?.configMap.defaultMode,
    ).toBe(0o400);
  });

  it('reads yes/no/on/off as booleans, so an unquoted `on` in string data is refused as kubectl would', async () => {
    const res = await api.send(
      'POST',
      `${NS}/configmaps`,
      yaml('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  debug: on\n'),
    );
    expect(res.status).toBe(422);
    expect(fields(res)).toContain('data.debug');
  });

  it('keeps timestamps and sexagesimal-looking values as strings, as go-yaml v2 does', async () => {
    const res = await api.send(
      'POST',
      `${NS}/configmaps`,
      yaml('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  day: 2024-01-01\n  time: 12:30\n'),
    );
    expect(res.status).toBe(201);
    expect(res.json.data).toEqual({ day: '2024-01-01', time: '12:30' });
  });
});

describe('immutable fields', () => {
  it('refuses a change of a Deployment spec.selector with a 422 naming it', async () => {
    await api.send('POST', DEPLOYMENTS, { body: deployment('web') });
    const changed = deployment('web');
    (changed.spec.selector.matchLabels as Record<string, string>).tier = 'x';
    (changed.spec.template.metadata.labels as Record<string, string>).tier = 'x';
    const before = await api.snapshot();
    const res = await api.send('PUT', `${DEPLOYMENTS}/web`, { body: changed });
    expect(res.status).toBe(422);
    expect(fields(res)).toEqual(['spec.selector']);
    const applied = await api.send('POST', APPLY, { body: changed });
    expect(applied.status).toBe(422);
    expect(applied.json.message).toContain('spec.selector');
    expect(await api.snapshot()).toBe(before);
  });

  it('refuses a change of a ReplicaSet spec.selector', async () => {
    const rs = { ...deployment('rs'), apiVersion: 'apps/v1', kind: 'ReplicaSet' };
    await api.send('POST', REPLICASETS, { body: rs });
    const res = await api.send('PATCH', `${REPLICASETS}/rs`, {
      body: {
        spec: {
          selector: { matchLabels: { app: 'rs', tier: 'x' } },
          template: { metadata: { labels: { app: 'rs', tier: 'x' } } },
        },
      },
      contentType: 'application/merge-patch+json',
    });
    expect(res.status).toBe(422);
    expect(fields(res)).toEqual(['spec.selector']);
  });

  it("lets a Pod's image change and refuses any other spec change, naming the field", async () => {
    await api.send('POST', `${NS}/pods`, { body: pod('p') });
    const image = await api.send('PATCH', `${NS}/pods/p`, {
      body: { spec: { containers: [{ name: 'app', image: 'ferry.local/busybox:2' }] } },
      contentType: 'application/strategic-merge-patch+json',
    });
    expect(image.status).toBe(200);
    const command = await api.send('PATCH', `${NS}/pods/p`, {
      body: [{ op: 'add', path: '/spec/containers/0/command', value: ['sh'] }],
      contentType: 'application/json-patch+json',
    });
    expect(command.status).toBe(422);
    expect(fields(command)).toEqual(['spec.containers[0].command']);
    expect(command.json.message).toContain('pod updates may not change fields other than');
  });

  it('lets tolerations be added, never removed, and activeDeadlineSeconds be lowered, never raised', async () => {
    const p = pod('p');
    (p.spec as Record<string, unknown>).tolerations = [{ key: 'a', operator: 'Exists' }];
    (p.spec as Record<string, unknown>).activeDeadlineSeconds = 100;
    await api.send('POST', `${NS}/pods`, { body: p });
    const patch = (body: unknown) =>
      api.send('PATCH', `${NS}/pods/p`, { body, contentType: 'application/merge-patch+json' });
    const add = await patch({
      spec: {
        tolerations: [
          { key: 'a', operator: 'Exists' },
          { key: 'b', operator: 'Exists' },
        ],
      },
    });
    expect(add.status).toBe(200);
    expect((await patch({ spec: { tolerations: [{ key: 'b', operator: 'Exists' }] } })).status).toBe(422);
    expect((await patch({ spec: { activeDeadlineSeconds: 50 } })).status).toBe(200);
    const raised = await patch({ spec: { activeDeadlineSeconds: 500 } });
    expect(raised.status).toBe(422);
    expect(fields(raised)).toEqual(['spec.activeDeadlineSeconds']);
  });

  it('re-applies an unchanged Pod manifest after the scheduler bound it', async () => {
    const manifest = pod('p');
    await api.send('POST', APPLY, { body: manifest });
    const stored = (await api.store.get({ kind: 'Pod', namespace: 'default', name: 'p' })) as {
      spec: Record<string, unknown>;
    };
    await api.store.update({ ...stored, spec: { ...stored.spec, nodeName: 'n1' } } as never);
    const again = await api.send('POST', APPLY, { body: manifest });
    expect(again.status).toBe(200);
    expect((again.json.items as { object: { spec: { nodeName?: string } } }[])[0]?.object.spec.nodeName).toBe('n1');
  });
});

describe('securityContext', () => {
  it('refuses a made-up key inside a container securityContext, naming it', async () => {
    const p = pod('p');
    (p.spec.containers[0] as Record<string, unknown>).securityContext = { runAsUser: 1000, runAsRoot: true };
    const res = await api.send('POST', `${NS}/pods`, { body: p });
    expect(res.status).toBe(422);
    expect(fields(res)).toEqual(['spec.containers[0].securityContext.runAsRoot']);
  });

  it('refuses a made-up key inside a pod securityContext, and accepts the real fields', async () => {
    const p = pod('p');
    (p.spec as Record<string, unknown>).securityContext = { fsGroup: 2000, privileged: true };
    const res = await api.send('POST', `${NS}/pods`, { body: p });
    expect(res.status).toBe(422);
    expect(fields(res)).toEqual(['spec.securityContext.privileged']);
    (p.spec as Record<string, unknown>).securityContext = {
      runAsUser: 1000,
      runAsGroup: 3000,
      fsGroup: 2000,
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    };
    (p.spec.containers[0] as Record<string, unknown>).securityContext = {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    };
    expect((await api.send('POST', `${NS}/pods`, { body: p })).status).toBe(201);
  });
});

describe('the CLI reads manifests as the server does', () => {
  it('reads defaultMode: 0755 as octal in `ferry apply -f`', async () => {
    const { parseManifests } = await import('../../../cli/manifests');
    const [m] = parseManifests(
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes: [{name: v, configMap: {name: c, defaultMode: 0755}}]\n  containers: [{name: a, image: x}]\n',
      'pod.yaml',
    );
    const spec = (m?.object as unknown as { spec?: { volumes: { configMap: { defaultMode: number } }[] } })?.spec;
    expect(spec?.volumes[0]?.configMap.defaultMode).toBe(0o755);
  });
});

describe('what the CLI prints reads back as it was', () => {
  it('quotes strings that YAML 1.1 would read as booleans, numbers or octal', async () => {
    const { toYaml } = await import('../../../cli/output/print');
    const { parseManifests } = await import('../../../cli/manifests');
    const data = { a: 'on', b: 'no', c: 'y', d: '0755', e: '12:30', f: 'yes' };
    const printed = toYaml({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data });
    const [read] = parseManifests(printed, 'out.yaml');
    expect((read?.object as unknown as { data?: unknown } | undefined)?.data).toEqual(data);
  });
});
