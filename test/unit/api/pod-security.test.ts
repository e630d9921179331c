import { beforeEach, describe, expect, it } from 'vitest';
import { evaluate } from '../../../functions/admission/pod-security/policy';
import { deployment, pod, startApi, type TestApi } from './harness';

const PODS = '/api/v1/namespaces/team/pods';
const DEPLOYMENTS = '/apis/apps/v1/namespaces/team/deployments';
const APPLY = '/apis/ferry.dev/v1/apply';
const MERGE = 'application/merge-patch+json';

/** Finding 2's pod: the Docker socket and the host's root, pinned to a node. */
function rootPod(name = 'root') {
  const p = pod(name, { namespace: 'team', nodeName: 'n1' }) as ReturnType<typeof pod> & {
    spec: Record<string, unknown>;
  };
  p.spec.volumes = [
    { name: 'sock', hostPath: { path: '/var/run/docker.sock' } },
    { name: 'root', hostPath: { path: '/' } },
  ];
  return p;
}

function withSpec(name: string, spec: Record<string, unknown>, container: Record<string, unknown> = {}) {
  const p = pod(name, { namespace: 'team' }) as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
  Object.assign(p.spec, spec);
  Object.assign((p.spec.containers as Record<string, unknown>[])[0] as object, container);
  return p;
}

/** A pod that meets the restricted level. */
function restrictedPod(name: string) {
  return withSpec(
    name,
    { securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } },
    { securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } },
  );
}

describe('Pod Security Admission and spec.nodeName (issue 18, finding 2)', () => {
  let api: TestApi;
  let deployer: string;

  const labelNamespace = (labels: Record<string, string | null>) =>
    api.send('PATCH', '/api/v1/namespaces/team', { contentType: MERGE, body: { metadata: { labels } } });

  beforeEach(async () => {
    api = await startApi();
    await api.send('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } },
    });
    deployer = await api.token({ role: 'deployer', namespaces: ['team'] });
  });

  it("refuses a deployer's pod with hostPath /var/run/docker.sock and / pinned to a node, and stores nothing", async () => {
    // prepare
    const before = await api.snapshot();

    // act
    const res = await api.send('POST', PODS, { token: deployer, body: rootPod() });

    // assess
    expect(res.status).toBe(403);
    expect(await api.snapshot()).toBe(before);
  });

  it('refuses spec.nodeName from a deployer, naming the field, even in a privileged namespace', async () => {
    // prepare
    await labelNamespace({ 'pod-security.kubernetes.io/enforce': 'privileged' });

    // act
    const res = await api.send('POST', PODS, {
      token: deployer,
      body: pod('pinned', { namespace: 'team', nodeName: 'n1' }),
    });

    // assess
    expect(res.status).toBe(403);
    expect(res.json.message).toMatch(/spec\.nodeName: only an admin may bind a pod to a node/);
  });

  it('refuses spec.nodeName in a pod template and in a later patch of an unbound pod', async () => {
    // prepare
    const d = deployment('web', 1, 'team') as ReturnType<typeof deployment> & {
      spec: { template: { spec: Record<string, unknown> } };
    };
    d.spec.template.spec.nodeName = 'n1';
    await api.send('POST', PODS, { token: deployer, body: pod('free', { namespace: 'team' }) });

    // act
    const template = await api.send('POST', DEPLOYMENTS, { token: deployer, body: d });
    const patch = await api.send('PATCH', `${PODS}/free`, {
      token: deployer,
      contentType: MERGE,
      body: { spec: { nodeName: 'n1' } },
    });

    // assess
    expect(template.status).toBe(403);
    expect(template.json.message).toMatch(/spec\.template\.spec\.nodeName/);
    // A Pod's spec.nodeName is immutable, as in Kubernetes: validation refuses the patch (422)
    // before the policy check would (403). Either way the pod stays unpinned.
    expect(patch.status).toBe(422);
    expect(JSON.stringify(patch.json)).toMatch(/spec\.nodeName/);
  });

  it('lets an admin pin a pod to a node', async () => {
    // act
    const res = await api.send('POST', PODS, { body: pod('pinned', { namespace: 'team', nodeName: 'n1' }) });

    // assess
    expect(res.status).toBe(201);
  });

  /** Baseline violations that are also fields ferry cannot run yet: a 422 for every namespace. */
  const FERRY_CANNOT_RUN = new Set(['host namespaces', 'procMount', 'seLinuxOptions', 'hostProcess']);

  it.each([
    ['hostPath volumes', withSpec('p', { volumes: [{ name: 'h', hostPath: { path: '/etc' } }] })],
    ['host namespaces', withSpec('p', { hostNetwork: true })],
    ['privileged', withSpec('p', {}, { securityContext: { privileged: true } })],
    ['non-default capabilities', withSpec('p', {}, { securityContext: { capabilities: { add: ['SYS_ADMIN'] } } })],
    ['hostPort', withSpec('p', {}, { ports: [{ containerPort: 80, hostPort: 80 }] })],
    ['procMount', withSpec('p', {}, { securityContext: { procMount: 'Unmasked' } })],
    ['forbidden sysctls', withSpec('p', { securityContext: { sysctls: [{ name: 'kernel.msgmax', value: '1' }] } })],
    ['seLinuxOptions', withSpec('p', { securityContext: { seLinuxOptions: { type: 'spc_t' } } })],
    ['seccompProfile', withSpec('p', {}, { securityContext: { seccompProfile: { type: 'Unconfined' } } })],
    ['forbidden AppArmor profile', withSpec('p', {}, { securityContext: { appArmorProfile: { type: 'Unconfined' } } })],
    ['hostProcess', withSpec('p', { securityContext: { windowsOptions: { hostProcess: true } } })],
  ])('enforces baseline by default: refuses %s', async (reason, body) => {
    // act
    const res = await api.send('POST', PODS, { token: deployer, body });

    // assess
    if (FERRY_CANNOT_RUN.has(reason)) {
      // A field ferry cannot run is refused for everyone (schemas/pod-refused.ts), before policy.
      expect(res.status).toBe(422);
      expect(JSON.stringify(res.json)).toContain('ferry does not support');
      return;
    }
    expect(res.status).toBe(403);
    expect(res.json.message).toContain('violates PodSecurity "baseline:latest"');
    expect(res.json.message).toContain(reason);
  });

  it('measures hostPID and hostIPC at baseline (the schema refuses them today; the check stands behind it)', () => {
    // act
    const found = evaluate('baseline', { spec: { hostPID: true, hostIPC: true, containers: [] } });

    // assess
    expect(found).toEqual([{ reason: 'host namespaces', detail: 'hostPID=true, hostIPC=true' }]);
  });

  it('admits in baseline what baseline allows: default capabilities, safe sysctls, hostPort 0', async () => {
    // prepare
    const body = withSpec(
      'ok',
      { securityContext: { sysctls: [{ name: 'net.ipv4.ip_local_port_range', value: '1024 65000' }] } },
      {
        securityContext: { capabilities: { add: ['NET_BIND_SERVICE', 'CHOWN'] } },
        ports: [{ containerPort: 80, hostPort: 0 }],
      },
    );

    // act
    const res = await api.send('POST', PODS, { token: deployer, body });

    // assess
    expect(res.status).toBe(201);
  });

  it('enforces on pod templates at apply time, so the pipeline fails before any object is written', async () => {
    // prepare
    const d = deployment('web', 2, 'team') as ReturnType<typeof deployment> & {
      spec: { template: { spec: Record<string, unknown> } };
    };
    d.spec.template.spec.volumes = [{ name: 'h', hostPath: { path: '/etc' } }];
    const before = await api.snapshot();

    // act
    const res = await api.send('POST', APPLY, { token: deployer, body: [pod('fine', { namespace: 'team' }), d] });

    // assess
    expect(res.status).toBe(403);
    expect(res.json.message).toMatch(/spec\.template violates PodSecurity "baseline:latest": hostPath volumes/);
    expect(await api.snapshot()).toBe(before);
  });

  it('enforces on Job and CronJob templates', async () => {
    // prepare
    const podSpec = {
      restartPolicy: 'Never',
      volumes: [{ name: 'h', hostPath: { path: '/etc' } }],
      containers: [{ name: 'c', image: 'ferry.local/busybox:1' }],
    };
    const job = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' }, spec: { template: { spec: podSpec } } };
    const cron = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'c' },
      spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { spec: podSpec } } } },
    };

    // act
    const j = await api.send('POST', '/apis/batch/v1/namespaces/team/jobs', { token: deployer, body: job });
    const c = await api.send('POST', '/apis/batch/v1/namespaces/team/cronjobs', { token: deployer, body: cron });

    // assess
    expect(j.status).toBe(403);
    expect(c.status).toBe(403);
    expect(c.json.message).toContain('spec.jobTemplate.spec.template violates');
  });

  it('lets an admin label a namespace privileged, after which host access is admitted there', async () => {
    // prepare
    const label = await labelNamespace({ 'pod-security.kubernetes.io/enforce': 'privileged' });

    // act
    const res = await api.send('POST', PODS, {
      token: deployer,
      body: withSpec('h', { volumes: [{ name: 'h', hostPath: { path: '/etc' } }] }),
    });

    // assess
    expect(label.status).toBe(200);
    expect(res.status).toBe(201);
  });

  it('enforces restricted when labelled so, and admits a pod that meets it', async () => {
    // prepare
    await labelNamespace({ 'pod-security.kubernetes.io/enforce': 'restricted' });

    // act
    const plain = await api.send('POST', PODS, { token: deployer, body: pod('plain', { namespace: 'team' }) });
    const hardened = await api.send('POST', PODS, { token: deployer, body: restrictedPod('hardened') });

    // assess
    expect(plain.status).toBe(403);
    expect(plain.json.message).toContain('violates PodSecurity "restricted:latest"');
    for (const reason of [
      'allowPrivilegeEscalation != false',
      'unrestricted capabilities',
      'runAsNonRoot != true',
      'seccompProfile',
    ])
      expect(plain.json.message).toContain(reason);
    expect(hardened.status).toBe(201);
  });

  it('refuses volume types outside the restricted list and runAsUser 0 at restricted', async () => {
    // prepare
    await labelNamespace({ 'pod-security.kubernetes.io/enforce': 'restricted' });
    const body = restrictedPod('p') as { spec: Record<string, unknown> };
    body.spec.volumes = [{ name: 'cfg', configMap: { name: 'c' } }];
    (body.spec.securityContext as Record<string, unknown>).runAsUser = 0;

    // act
    const res = await api.send('POST', PODS, { token: deployer, body });

    // assess
    expect(res.status).toBe(403);
    expect(res.json.message).toContain('runAsUser=0');
    expect(res.json.message).not.toContain('restricted volume types');
  });

  it('answers with a Warning header in warn mode and admits the pod', async () => {
    // prepare
    await labelNamespace({ 'pod-security.kubernetes.io/warn': 'restricted' });

    // act
    const res = await api.send('POST', PODS, { token: deployer, body: pod('w', { namespace: 'team' }) });

    // assess
    expect(res.status).toBe(201);
    expect(res.headers.warning).toMatch(
      /^299 - "would violate PodSecurity \\?"restricted:latest\\?": allowPrivilegeEscalation != false/,
    );
  });

  it('logs in audit mode and admits the pod', async () => {
    // prepare
    await labelNamespace({ 'pod-security.kubernetes.io/audit': 'restricted' });
    const warnings: string[] = [];
    api.deps.log.warn = (msg: string) => void warnings.push(msg);

    // act
    const res = await api.send('POST', PODS, { token: deployer, body: pod('a', { namespace: 'team' }) });

    // assess
    expect(res.status).toBe(201);
    expect(warnings).toContain('pod security audit');
  });

  it('refuses a deployer setting or removing pod-security labels (403) and an admin an unknown level (422)', async () => {
    // prepare
    const ns = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'team', labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } },
    };

    // act
    const deployerPut = await api.send('PUT', '/api/v1/namespaces/team', { token: deployer, body: ns });
    const badLevel = await labelNamespace({ 'pod-security.kubernetes.io/enforce': 'anything' });
    const badVersion = await labelNamespace({ 'pod-security.kubernetes.io/enforce-version': 'yesterday' });

    // assess
    expect(deployerPut.status).toBe(403);
    expect(badLevel.status).toBe(422);
    expect(badLevel.json.details?.causes?.[0]?.field).toBe('metadata.labels[pod-security.kubernetes.io/enforce]');
    expect(badVersion.status).toBe(422);
  });

  it('does not measure again an update that leaves the pod template as it was', async () => {
    // prepare
    await api.send('POST', DEPLOYMENTS, { token: deployer, body: deployment('web', 1, 'team') });
    await labelNamespace({ 'pod-security.kubernetes.io/enforce': 'restricted' });

    // act
    const scale = await api.send('PATCH', `${DEPLOYMENTS}/web`, {
      token: deployer,
      contentType: MERGE,
      body: { spec: { replicas: 3 } },
    });

    // assess
    expect(scale.status).toBe(200);
  });

  it('refuses a rollback to a template the namespace forbids now', async () => {
    // prepare: revision 1 ran with hostNetwork while the namespace was privileged
    await labelNamespace({ 'pod-security.kubernetes.io/enforce': 'privileged' });
    const created = await api.send('POST', DEPLOYMENTS, { body: deployment('web', 1, 'team') });
    const uid = String((created.json.metadata as { uid: string }).uid);
    const template = (hostNetwork: boolean) => ({
      metadata: { labels: { app: 'web' } },
      spec: { ...(hostNetwork ? { hostNetwork } : {}), containers: [{ name: 'app', image: 'ferry.local/busybox:1' }] },
    });
    for (const [revision, hostNetwork] of [
      [1, true],
      [2, false],
    ] as const) {
      await api.store.create({
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `web-${revision}`,
          namespace: 'team',
          annotations: { 'deployment.kubernetes.io/revision': String(revision) },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid, controller: true }],
        },
        spec: { replicas: 0, selector: { matchLabels: { app: 'web' } }, template: template(hostNetwork) },
      });
    }
    await labelNamespace({ 'pod-security.kubernetes.io/enforce': 'baseline' });

    // act
    const res = await api.send('POST', `${DEPLOYMENTS}/web/rollback`, { token: deployer });

    // assess
    expect(res.status).toBe(403);
    expect(res.json.message).toContain('host namespaces (hostNetwork=true)');
  });

  it('takes the levels of a namespace created in the same apply bundle', async () => {
    // prepare
    const ns = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'ops', labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } },
    };
    const host = withSpec('agent', { volumes: [{ name: 'h', hostPath: { path: '/etc' } }] }) as {
      metadata: Record<string, unknown>;
    };
    host.metadata.namespace = 'ops';

    // act
    const res = await api.send('POST', APPLY, { body: [ns, host] });

    // assess
    expect(res.status).toBe(200);
  });
});
