/**
 * The agent's PersistentVolumeClaim volumes over the in-memory runtime: a claim's container waits
 * until the sync says where its volume is, then gets a bind of the node directory (readOnly from the
 * claim honoured); the data outlives the pod; the directory goes only once its PV is no longer
 * listed; a hand-made local PV whose path is missing is not created.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { NodeVolume } from '../../../schemas/agent-protocol';
import { pod, startManager, statusOf, until } from './pod-harness';

const withClaim = (readOnly?: boolean) =>
  pod({
    volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'www-web-0', ...(readOnly ? { readOnly } : {}) } }],
    containers: [{ name: 'app', image: 'img', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
  });
const provisioned: NodeVolume = { name: 'pvc-1', claim: 'default/www-web-0', provisioned: true };

describe('claim volumes on the node', () => {
  it('waits for the claim to be bound here, then binds its directory under the state dir', async () => {
    const { m, runtime, stateDir } = await startManager();
    m.setDesired([withClaim()], undefined, []);
    await until(
      () => statusOf(m).containerStatuses?.[0]?.state.waiting?.reason === 'CreateContainerConfigError',
      'wait',
    );
    expect(runtime.byName('app')).toBeUndefined();

    m.setDesired([withClaim()], undefined, [provisioned]);
    await until(() => runtime.byName('app') !== undefined, 'app');

    const dir = `${stateDir}/volumes/pvc-1`;
    expect(runtime.byName('app')?.config?.mounts?.filter((x) => x.mountPath !== '/dev/termination-log')).toEqual([
      { kind: 'bind', hostPath: dir, mountPath: '/data', readOnly: false },
    ]);
    expect(statSync(`${stateDir}/volumes`).mode & 0o777).toBe(0o700);
    expect(statSync(dir).mode & 0o777).toBe(0o777);
  });

  it("gives the claim's data to the pod's fsGroup, group-writable and setgid, as the kubelet does", async () => {
    // prepare: data an earlier pod left, owned by root's group
    const { m, runtime, stateDir } = await startManager();
    const dir = `${stateDir}/volumes/pvc-1`;
    mkdirSync(`${dir}/sub`, { recursive: true });
    writeFileSync(`${dir}/sub/old`, 'x', { mode: 0o600 });

    // act
    const grouped = { ...withClaim(), spec: { ...withClaim().spec, securityContext: { fsGroup: 2000 } } };
    m.setDesired([grouped], undefined, [provisioned]);
    await until(() => runtime.byName('app') !== undefined, 'app');

    // assess
    for (const path of [dir, `${dir}/sub`, `${dir}/sub/old`]) expect(statSync(path).gid).toBe(2000);
    expect(statSync(dir).mode & 0o2070).toBe(0o2070);
    expect(statSync(`${dir}/sub/old`).mode & 0o777).toBe(0o660);
  });

  it('mounts the claim read-only when the pod volume says readOnly', async () => {
    const { m, runtime } = await startManager();
    m.setDesired([withClaim(true)], undefined, [provisioned]);
    await until(() => runtime.byName('app') !== undefined, 'app');
    expect(runtime.byName('app')?.config?.mounts?.[0]).toMatchObject({ readOnly: true });
  });

  it('keeps the data when the pod goes, and removes it only when the PV is no longer listed', async () => {
    const { m, runtime, stateDir } = await startManager();
    m.setDesired([withClaim()], undefined, [provisioned]);
    await until(() => runtime.byName('app') !== undefined, 'app');
    const file = `${stateDir}/volumes/pvc-1/kept`;
    writeFileSync(file, 'hello');

    m.setDesired([], undefined, [{ name: 'pvc-1', provisioned: true }]);
    await until(() => runtime.byName('app') === undefined, 'pod gone');
    expect(readFileSync(file, 'utf8')).toBe('hello');

    // An answer without the volumes section (pods did not move) removes nothing.
    m.setDesired([]);
    expect(existsSync(file)).toBe(true);

    m.setDesired([], undefined, []);
    expect(existsSync(`${stateDir}/volumes/pvc-1`)).toBe(false);
  });

  it('does not remove the directory of a claim a pod still uses, even when the list lost its PV', async () => {
    const { m, runtime, stateDir } = await startManager();
    m.setDesired([withClaim()], undefined, [provisioned]);
    await until(() => runtime.byName('app') !== undefined, 'app');
    m.setDesired([withClaim()], undefined, []);
    expect(existsSync(`${stateDir}/volumes/pvc-1`)).toBe(true);
  });

  it('refuses a hand-made local PV whose path does not exist, and a volume name that is not one', async () => {
    const { m, runtime } = await startManager();
    m.setDesired([withClaim()], undefined, [
      {
        name: 'disk',
        claim: 'default/www-web-0',
        provisioned: false,
        path: '/nonexistent/ferry-test-disk',
        create: false,
      },
    ]);
    await until(() => /does not exist/.test(JSON.stringify(statusOf(m).containerStatuses ?? [])), 'refusal');
    expect(runtime.byName('app')).toBeUndefined();
    expect(existsSync('/nonexistent/ferry-test-disk')).toBe(false);

    m.setDesired([withClaim()], undefined, [{ name: '../../etc', claim: 'default/www-web-0', provisioned: true }]);
    await until(() => /not a volume name/.test(JSON.stringify(statusOf(m).containerStatuses ?? [])), 'name refusal');
  });
});
