import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { recordEvent } from '../../../functions/events';
import { silentLogger } from '../../../functions/log';
import { EXAMPLES, lines, startTestPlane, type TestPlane } from './harness';

const WEB_SCALED = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 5
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: httpd
          image: ferry.local/busybox:1
`;

describe('ferry apply, get, describe and delete', () => {
  let t: TestPlane;

  beforeAll(async () => {
    t = await startTestPlane();
  });

  afterAll(async () => {
    await t?.close();
  });

  it('validates the cloud examples (a Cloud and a NodePool) without applying them', async () => {
    const checked = await t.ferry(['apply', '--dry-run', '-f', `${EXAMPLES}/clouds`]);

    expect(checked.code).toBe(0);
    expect(checked.stdout).toContain('cloud.ferry.dev/aws-eu created (dry run)');
    expect(checked.stdout).toContain('nodepool.ferry.dev/web created (dry run)');
    expect(checked.stdout).toContain('cloud.ferry.dev/gcp-eu created (dry run)');
    expect(checked.stdout).toContain('cloud.ferry.dev/azure-eu created (dry run)');
  });

  it('applies examples/ and then lists the deployment and service', async () => {
    // act
    const applied = await t.ferry(['apply', '-f', EXAMPLES]);
    const deployments = await t.ferry(['get', 'deployments']);
    const services = await t.ferry(['get', 'svc']);

    // assess
    expect(applied.code).toBe(0);
    expect(lines(applied.stdout)).toEqual(['deployment.apps/web created', 'service/web created']);
    expect(deployments.code).toBe(0);
    expect(lines(deployments.stdout)[0]).toMatch(/^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$/);
    expect(lines(deployments.stdout)[1]).toMatch(/^web\s+0\/3\s+0\s+0\s+\d+s$/);
    expect(lines(services.stdout)[0]).toMatch(/^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$/);
    // Every cluster's own Service first (as in Kubernetes; ferry gives every Service a node port), then web.
    expect(lines(services.stdout)[1]).toMatch(
      /^kubernetes\s+ClusterIP\s+10\.96\.0\.1\s+<none>\s+443:3\d{4}\/TCP\s+\d+s$/,
    );
    // No cloud provider in this harness: the load balancer stays pending; the node port is allocated.
    expect(lines(services.stdout)[2]).toMatch(
      /^web\s+LoadBalancer\s+10\.96\.\d+\.\d+\s+<pending>\s+80:3\d{4}\/TCP\s+\d+s$/,
    );
  });

  it('reports unchanged when the same manifests are applied again', async () => {
    // prepare
    await t.ferry(['apply', '-f', EXAMPLES]);

    // act
    const again = await t.ferry(['apply', '-f', EXAMPLES]);

    // assess
    expect(again.code).toBe(0);
    expect(lines(again.stdout)).toEqual(['deployment.apps/web unchanged', 'service/web unchanged']);
  });

  it('shows the diff of a dry run and writes nothing', async () => {
    // prepare
    await t.ferry(['apply', '-f', EXAMPLES]);
    const before = await t.ferry(['get', 'deploy', 'web', '-o', 'json']);

    // act
    const dry = await t.ferry(['apply', '--dry-run', '-f', '-'], { stdin: WEB_SCALED });
    const after = await t.ferry(['get', 'deploy', 'web', '-o', 'json']);

    // assess
    expect(dry.code).toBe(0);
    expect(lines(dry.stdout)[0]).toBe('deployment.apps/web configured (dry run)');
    expect(dry.stdout).toMatch(/^-\s+replicas: 3$/m);
    expect(dry.stdout).toMatch(/^\+\s+replicas: 5$/m);
    expect(after.stdout).toBe(before.stdout);
  });

  it('prints yaml and json that describe the same object and re-apply as unchanged', async () => {
    // prepare
    await t.ferry(['apply', '-f', EXAMPLES]);

    // act
    const yaml = await t.ferry(['get', 'deployment', 'web', '-o', 'yaml']);
    const json = await t.ferry(['get', 'deployment', 'web', '-o', 'json']);
    const reapplied = await t.ferry(['apply', '-f', '-'], { stdin: yaml.stdout });

    // assess
    const fromYaml = parse(yaml.stdout) as { kind: string; metadata: { name: string }; spec: { replicas: number } };
    expect(fromYaml).toEqual(JSON.parse(json.stdout));
    expect(fromYaml.kind).toBe('Deployment');
    expect(fromYaml.metadata.name).toBe('web');
    expect(fromYaml.spec.replicas).toBe(3);
    expect(reapplied.code).toBe(0);
    expect(lines(reapplied.stdout)).toEqual(['deployment.apps/web unchanged']);
  });

  it('prints a List for several objects and names with -o name', async () => {
    // prepare
    await t.ferry(['apply', '-f', EXAMPLES]);

    // act
    const list = await t.ferry(['get', 'deploy,svc', '-o', 'json']);
    const names = await t.ferry(['get', 'deploy,svc', '-o', 'name']);

    // assess
    const parsed = JSON.parse(list.stdout) as { kind: string; items: { kind: string }[] };
    expect(parsed.kind).toBe('List');
    // The built-in kubernetes Service is listed with the ones applied.
    expect(parsed.items.map((i) => i.kind)).toEqual(['Deployment', 'Service', 'Service']);
    expect(lines(names.stdout)).toEqual(['deployment.apps/web', 'service/kubernetes', 'service/web']);
  });

  it('filters by label selector, shows wide columns and all namespaces', async () => {
    // prepare
    await t.ferry(['apply', '-f', EXAMPLES]);

    // act
    const matching = await t.ferry(['get', 'deploy', '-l', 'app=web']);
    const none = await t.ferry(['get', 'deploy', '-l', 'app=other']);
    const wide = await t.ferry(['get', 'deploy', '-o', 'wide']);
    const all = await t.ferry(['get', 'deploy', '-A']);

    // assess
    expect(lines(matching.stdout)[1]).toMatch(/^web\s/);
    expect(none.stdout).toBe('');
    expect(none.stderr).toBe('No resources found in default namespace.\n');
    expect(lines(wide.stdout)[0]).toMatch(/CONTAINERS\s+IMAGES\s+SELECTOR$/);
    expect(lines(wide.stdout)[1]).toMatch(/httpd\s+ferry\.local\/busybox:1\s+app=web$/);
    expect(lines(all.stdout)[0]).toMatch(/^NAMESPACE\s+NAME\s+READY/);
    expect(lines(all.stdout)[1]).toMatch(/^default\s+web\s/);
  });

  it('describes a deployment with its key fields and events', async () => {
    // prepare
    await t.ferry(['apply', '-f', EXAMPLES]);
    const deployment = await t.plane.store.get({ kind: 'Deployment', namespace: 'default', name: 'web' });
    if (!deployment) throw new Error('web deployment missing');
    const deps = { store: t.plane.store, clock: Date.now, log: silentLogger };
    await recordEvent(deps, deployment, 'Normal', 'ScalingReplicaSet', 'Scaled up replica set web-abc to 3', {
      component: 'deployment-controller',
    });

    // act
    const result = await t.ferry(['describe', 'deploy', 'web']);

    // assess
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Name:\s+web$/m);
    expect(result.stdout).toMatch(/^Namespace:\s+default$/m);
    expect(result.stdout).toMatch(/^Selector:\s+app=web$/m);
    expect(result.stdout).toMatch(/^Replicas:\s+3 desired \| 0 updated \| 0 total \| 0 available \| 0 unavailable$/m);
    expect(result.stdout).toMatch(/^StrategyType:\s+RollingUpdate$/m);
    expect(result.stdout).toMatch(/Image:\s+ferry\.local\/busybox:1/);
    expect(result.stdout).toMatch(
      /^ {2}Normal\s+ScalingReplicaSet\s+\d+s\s+deployment-controller\s+Scaled up replica set web-abc to 3$/m,
    );
  });

  it('deletes what the manifests name and reports a second delete as not found', async () => {
    // prepare
    await t.ferry(['apply', '-f', EXAMPLES]);

    // act
    const deleted = await t.ferry(['delete', '-f', EXAMPLES]);
    const listed = await t.ferry(['get', 'deploy']);
    const again = await t.ferry(['delete', 'deployment', 'web']);
    const ignored = await t.ferry(['delete', 'deployment', 'web', '--ignore-not-found']);

    // assess
    expect(deleted.code).toBe(0);
    expect(lines(deleted.stdout)).toEqual(['deployment.apps "web" deleted', 'service "web" deleted']);
    expect(listed.stderr).toBe('No resources found in default namespace.\n');
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('error: deployment.apps "web" not found\n');
    expect(ignored.code).toBe(0);
  });

  it('puts objects without a namespace into the one -n names', async () => {
    // prepare
    await t.ferry(['apply', '-f', '-'], {
      stdin: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n',
    });

    // act
    const applied = await t.ferry(['apply', '-n', 'team-a', '-f', `${EXAMPLES}/web-service.yaml`]);
    const inTeam = await t.ferry(['get', 'svc', '-n', 'team-a', '-o', 'name']);

    // assess
    expect(applied.code).toBe(0);
    expect(lines(inTeam.stdout)).toEqual(['service/web']);
  });
});
