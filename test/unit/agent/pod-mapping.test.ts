/**
 * How Pod fields reach the runtime, over the in-memory runtime: securityContext (pod and
 * container level), runAsNonRoot against the image's user, the sandbox's hostAliases, sysctls and
 * memory volumes, shareProcessNamespace, subPath/subPathExpr and fsGroup on volumes, and
 * imagePullSecrets as registry credentials for the image's registry only.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { registryOf } from '../../../agent/pods/pull-secrets';
import { pod, startManager, statusOf, until } from './pod-harness';

/** A container's mounts of its pod's volumes: without the termination message file every container gets. */
const volumeMounts = <M extends { mountPath: string }>(mounts: M[] | undefined): M[] =>
  (mounts ?? []).filter((m) => m.mountPath !== '/dev/termination-log');

describe('Pod fields mapped to the runtime', () => {
  it('maps securityContext, the container winning over the pod, fsGroup joining the groups', async () => {
    // prepare
    const { m, runtime } = await startManager();
    const p = pod({
      securityContext: {
        runAsUser: 1000,
        runAsGroup: 3000,
        supplementalGroups: [4000],
        fsGroup: 2000,
        sysctls: [
          { name: 'net.ipv4.tcp_syncookies', value: '1' },
          { name: 'kernel.shm_rmid_forced', value: '1' },
        ],
        seccompProfile: { type: 'Unconfined' },
      },
      containers: [
        {
          name: 'app',
          image: 'img',
          securityContext: {
            runAsUser: 1001,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
        },
      ],
    });

    // act
    m.setDesired([p]);
    await until(() => runtime.byName('app') !== undefined, 'app');

    // assess
    expect(runtime.byName('app')?.config?.security).toEqual({
      user: '1001:3000',
      groupAdd: ['4000', '2000'],
      readOnlyRootfs: true,
      securityOpt: ['no-new-privileges'],
      capAdd: ['NET_BIND_SERVICE'],
      capDrop: ['ALL'],
      sysctls: { 'kernel.shm_rmid_forced': '1' },
    });
    const sandbox = [...runtime.containers.values()].find((c) => c.role === 'sandbox');
    expect(sandbox?.sandbox?.sysctls).toEqual({ 'net.ipv4.tcp_syncookies': '1' });
  });

  it('refuses to start a runAsNonRoot container whose image runs as root (CreateContainerConfigError)', async () => {
    // prepare
    const { m, runtime } = await startManager();
    runtime.images.set('root-img', { user: '' });
    runtime.images.set('named-img', { user: 'nobody' });
    runtime.images.set('app-img', { user: '1000' });
    const nonRoot = (name: string, image: string, sc: Record<string, unknown> = {}) => ({
      name,
      image,
      securityContext: { runAsNonRoot: true, ...sc },
    });

    // act
    m.setDesired([
      pod({
        containers: [
          nonRoot('root', 'root-img'),
          nonRoot('named', 'named-img'),
          nonRoot('zero', 'app-img', { runAsUser: 0 }),
          nonRoot('fine', 'app-img'),
        ],
      }),
    ]);
    await until(() => runtime.byName('fine') !== undefined, 'the non-root container');
    await until(
      () => (statusOf(m).containerStatuses ?? []).filter((c) => c.state.waiting).length === 3,
      'three waiting',
    );

    // assess
    const waiting = Object.fromEntries(
      (statusOf(m).containerStatuses ?? []).map((c) => [
        c.name,
        c.state.waiting as { reason?: string; message?: string },
      ]),
    );
    expect(waiting.root).toEqual({
      reason: 'CreateContainerConfigError',
      message: 'Error: container has runAsNonRoot and image will run as root',
    });
    expect(waiting.named?.message).toBe(
      'Error: container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root',
    );
    expect(waiting.zero?.message).toBe("Error: container's runAsUser breaks non-root policy");
    expect(runtime.byName('root')).toBeUndefined();
  });

  it('gives the sandbox the hostAliases and memory volumes, and shares its PID namespace when asked', async () => {
    // prepare
    const { m, runtime } = await startManager();

    // act
    m.setDesired([
      pod({
        hostAliases: [{ ip: '10.1.2.3', hostnames: ['db', 'db.local'] }],
        shareProcessNamespace: true,
        volumes: [{ name: 'scratch', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } }],
        containers: [{ name: 'app', image: 'img', volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] }],
      }),
    ]);
    await until(() => runtime.byName('app') !== undefined, 'app');

    // assess
    const sandbox = [...runtime.containers.values()].find((c) => c.role === 'sandbox');
    expect(sandbox?.sandbox?.hostAliases).toEqual([{ ip: '10.1.2.3', hostnames: ['db', 'db.local'] }]);
    expect(sandbox?.sandbox?.memoryVolumes).toEqual([{ name: 'scratch', sizeBytes: 64 * 1024 * 1024 }]);
    expect(volumeMounts(runtime.byName('app')?.config?.mounts)).toEqual([
      { kind: 'volume', volume: 'fake_uid-1_scratch', mountPath: '/scratch', readOnly: false },
    ]);
    expect(runtime.byName('app')?.config?.sharePid).toBe(true);
  });

  it('mounts a subPath and a subPathExpr expanded from the env, and gives volume dirs the fsGroup', async () => {
    // prepare
    const { m, runtime, stateDir } = await startManager();

    // act
    m.setDesired([
      pod({
        securityContext: { fsGroup: 2000 },
        volumes: [{ name: 'data', emptyDir: {} }],
        containers: [
          {
            name: 'app',
            image: 'img',
            env: [{ name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
            volumeMounts: [
              { name: 'data', mountPath: '/cache', subPath: 'cache' },
              { name: 'data', mountPath: '/logs', subPathExpr: 'logs/$(POD)' },
            ],
          },
        ],
      }),
    ]);
    await until(() => runtime.byName('app') !== undefined, 'app');

    // assess
    const root = `${stateDir}/pods/uid-1/volumes/data`;
    expect(volumeMounts(runtime.byName('app')?.config?.mounts)).toEqual([
      { kind: 'bind', hostPath: `${root}/cache`, mountPath: '/cache', readOnly: false },
      { kind: 'bind', hostPath: `${root}/logs/web-1`, mountPath: '/logs', readOnly: false },
    ]);
    expect(existsSync(`${root}/logs/web-1`)).toBe(true);
    expect(statSync(root).gid).toBe(2000);
    expect(statSync(root).mode & 0o2000).toBe(0o2000);
  });

  it('refuses a subPath that climbs out of its volume (CreateContainerConfigError), starting nothing', async () => {
    // prepare
    const { m, runtime } = await startManager();

    // act
    m.setDesired([
      pod({
        volumes: [{ name: 'data', emptyDir: {} }],
        containers: [
          {
            name: 'app',
            image: 'img',
            env: [{ name: 'UP', value: '../../..' }],
            volumeMounts: [{ name: 'data', mountPath: '/x', subPathExpr: '$(UP)/etc' }],
          },
        ],
      }),
    ]);
    await until(
      () => statusOf(m).containerStatuses?.[0]?.state.waiting?.reason === 'CreateContainerConfigError',
      'the error',
    );

    // assess
    expect(runtime.byName('app')).toBeUndefined();
  });

  it("passes the pod's pull secrets for the image's registry to the pull, and no others", async () => {
    // prepare
    const { m, runtime } = await startManager();
    const config = (auths: Record<string, unknown>) => Buffer.from(JSON.stringify({ auths })).toString('base64');
    const secrets = [
      {
        namespace: 'default',
        name: 'regcred',
        data: {
          '.dockerconfigjson': config({
            'registry.example.com': { auth: Buffer.from('bob:s3cret').toString('base64') },
            'https://index.docker.io/v1/': { username: 'hub', password: 'hubpw' },
          }),
        },
      },
    ];

    // act
    m.setDesired(
      [
        pod({
          imagePullSecrets: [{ name: 'regcred' }, { name: 'missing' }],
          containers: [{ name: 'app', image: 'registry.example.com/team/app:1' }],
        }),
      ],
      { secrets },
    );
    await until(() => runtime.byName('app') !== undefined, 'app');

    // assess
    expect(runtime.pulls).toEqual([
      {
        image: 'registry.example.com/team/app:1',
        auth: [{ serveraddress: 'registry.example.com', username: 'bob', password: 's3cret' }],
      },
    ]);
    expect(registryOf('nginx:1.27')).toBe('docker.io');
    expect(registryOf('localhost:5000/app')).toBe('localhost:5000');
  });

  it('writes downwardAPI and projected volumes, and follows a label change into the running pod', async () => {
    // prepare
    const { m, runtime, stateDir } = await startManager();
    const spec = {
      volumes: [
        { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
        {
          name: 'all',
          projected: {
            sources: [
              { configMap: { name: 'app', items: [{ key: 'mode', path: 'conf/mode' }] } },
              { downwardAPI: { items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } },
            ],
          },
        },
      ],
      containers: [
        {
          name: 'app',
          image: 'img',
          volumeMounts: [
            { name: 'info', mountPath: '/etc/podinfo' },
            { name: 'all', mountPath: '/etc/all' },
          ],
        },
      ],
    };
    const config = { configMaps: [{ namespace: 'default', name: 'app', data: { mode: 'fast' } }] };
    const dir = `${stateDir}/pods/uid-1/volumes`;

    // act
    m.setDesired([pod(spec, { labels: { app: 'web', tier: 'front' } })], config);
    await until(() => runtime.byName('app') !== undefined, 'app');
    const before = readFileSync(`${dir}/info/labels`, 'utf8');
    m.setDesired([pod(spec, { labels: { app: 'web', tier: 'back' } })], config);
    await until(() => readFileSync(`${dir}/info/labels`, 'utf8').includes('back'), 'the new label in the file');

    // assess
    expect(before).toBe('app="web"\ntier="front"');
    expect(readFileSync(`${dir}/all/conf/mode`, 'utf8')).toBe('fast');
    expect(readFileSync(`${dir}/all/name`, 'utf8')).toBe('web-1');
    expect(volumeMounts(runtime.byName('app')?.config?.mounts).every((x) => x.readOnly)).toBe(true);
  });

  it('names the sandbox after spec.hostname, and leaves Service variables out under enableServiceLinks: false', async () => {
    // prepare
    const { m, runtime } = await startManager({ serviceEnv: () => [{ name: 'WEB_SERVICE_HOST', value: '10.0.0.1' }] });

    // act
    m.setDesired([pod({ hostname: 'db-0', enableServiceLinks: false })]);
    await until(() => runtime.byName('app') !== undefined, 'app');

    // assess
    const sandbox = [...runtime.containers.values()].find((c) => c.role === 'sandbox');
    expect(sandbox?.sandbox?.hostname).toBe('db-0');
    expect(runtime.byName('app')?.env).toEqual([]);
  });

  it('stops a pod that runs past activeDeadlineSeconds and reports it Failed with DeadlineExceeded', async () => {
    // prepare
    const { m, runtime } = await startManager();

    // act
    m.setDesired([pod({ activeDeadlineSeconds: 1 })]);
    await until(() => runtime.byName('app') !== undefined, 'app');
    await until(() => statusOf(m).phase === 'Failed', 'the pod Failed', 4000);

    // assess
    expect(statusOf(m)).toMatchObject({
      reason: 'DeadlineExceeded',
      message: 'Pod was active on the node longer than the specified deadline',
    });
    expect([...runtime.containers.values()]).toEqual([]);
  });
});
