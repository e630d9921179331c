import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlane, type TestPlane } from './harness';

const NAMESPACE = `apiVersion: v1
kind: Namespace
metadata:
  name: team
  labels:
    pod-security.kubernetes.io/warn: restricted
---
apiVersion: v1
kind: ResourceQuota
metadata:
  name: q
  namespace: team
spec:
  hard:
    pods: "4"
    requests.cpu: "2"
---
apiVersion: v1
kind: LimitRange
metadata:
  name: lr
  namespace: team
spec:
  limits:
    - type: Container
      max: { cpu: "1" }
      defaultRequest: { cpu: 100m }
`;

const POD = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: team
spec:
  containers:
    - name: app
      image: ferry.local/busybox:1
`;

describe('ferry and admission: quotas, limit ranges, Pod Security warnings', () => {
  let t: TestPlane;

  beforeAll(async () => {
    t = await startTestPlane();
    const setup = await t.ferry(['apply', '-f', '-'], { stdin: NAMESPACE });
    if (setup.code !== 0) throw new Error(setup.stderr);
  });

  afterAll(async () => {
    await t?.close();
  });

  it('prints Pod Security warnings from apply on stderr, as kubectl does, and applies', async () => {
    // act
    const res = await t.ferry(['apply', '-f', '-'], { stdin: POD });

    // assess
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/^Warning: \[0\] Pod team\/web: would violate PodSecurity "restricted:latest": /m);
    expect(res.stdout).toContain('pod/web created');
  });

  it('describes a quota with its used and hard amounts, and a limit range by type and resource', async () => {
    // act
    const quota = await t.ferry(['describe', 'resourcequota', 'q', '-n', 'team']);
    const limits = await t.ferry(['describe', 'limitrange', 'lr', '-n', 'team']);
    const listed = await t.ferry(['get', 'quota', '-n', 'team']);

    // assess
    expect(quota.stdout).toMatch(/^Resource\s+Used\s+Hard$/m);
    expect(quota.stdout).toMatch(/^requests\.cpu\s+100m\s+2$/m);
    expect(limits.stdout).toMatch(/^Container\s+cpu\s+-\s+1\s+100m\s+1\s+-$/m);
    expect(listed.stdout).toMatch(/^q\s+\S+\s+pods: 1\/4, requests\.cpu: 100m\/2\s*$/m);
  });
});
