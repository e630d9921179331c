/**
 * One ContainerRuntime conformance suite over every implementation, as the store's suite runs
 * over its backends: the in-memory runtime always, Docker under REQUIRE_DOCKER=1 (and the Docker
 * lock: `flock /tmp/ferry-docker.lock`). What a container does (exit with a code, print) is set up per
 * runtime by its `behave` hook: a shell command on Docker, failure injection on the fake.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../agent/runtime/docker';
import { FakeRuntime } from '../../agent/runtime/fake';
import { type ContainerConfig, type ContainerRuntime, ImagePullFailedError } from '../../agent/runtime/types';
import { dockerAvailable } from '../e2e/helpers/docker';

interface Behaviour {
  /** Exit with this code after printing `out` (undefined: keep running). */
  exitCode?: number;
  out?: string;
}

interface RuntimeBackend {
  name: string;
  runtime: ContainerRuntime;
  image: string;
  /** The config part that makes the container behave so (Docker: a command). */
  command(b: Behaviour): Partial<ContainerConfig>;
  /** After the start: makes the fake behave so (Docker: nothing, the command does it). */
  behave(id: string, b: Behaviour): void;
  cleanup(): void;
}

const NODE = `conformance-${process.pid}`;
const backends: RuntimeBackend[] = [];
const fake = new FakeRuntime();
backends.push({
  name: 'fake',
  runtime: fake,
  image: 'img',
  command: () => ({}),
  behave: (id, b) => {
    const c = fake.containers.get(id);
    if (c && b.out !== undefined) c.output = b.out;
    if (b.exitCode !== undefined) fake.exit(id, b.exitCode);
  },
  cleanup: () => undefined,
});

// Docker only under REQUIRE_DOCKER=1 (where it must answer): runs of the non-Docker suite stay off
// the shared engine, whose use is serialized by a machine-wide lock.
if (process.env.REQUIRE_DOCKER === '1') {
  if (!dockerAvailable()) throw new Error('Docker Engine required (REQUIRE_DOCKER=1) but not reachable');
  backends.push({
    name: 'docker',
    runtime: new DockerRuntime({
      socketPath: '/var/run/docker.sock',
      nodeName: NODE,
      nodeIp: '127.0.0.1',
      sandboxImage: 'ferry.local/pause:1',
    }),
    image: 'ferry.local/busybox:1',
    command: (b) => ({
      command: [
        'sh',
        '-c',
        `printf '${b.out ?? ''}'; ${b.exitCode === undefined ? 'exec sleep 600' : `exit ${b.exitCode}`}`,
      ],
    }),
    behave: () => undefined,
    cleanup: () => {
      const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=ferry.node=${NODE}`], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean);
      if (ids.length) execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
      execFileSync('docker', ['network', 'rm', `ferry-${NODE}`], { stdio: 'ignore' });
    },
  });
} else {
  console.warn('\n!!! SKIPPED the Docker half of the runtime conformance suite: set REQUIRE_DOCKER=1 to run it\n');
}

let pods = 0;
const newPod = () => ({ uid: `uid-${process.pid}-${++pods}`, name: `conf-${pods}`, namespace: 'default' });

async function waitFor<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const b of backends) {
  describe(`ContainerRuntime conformance: ${b.name}`, () => {
    const rt = b.runtime;
    afterAll(() => b.cleanup());
    const config = (name: string, behaviour: Behaviour, extra: Partial<ContainerConfig> = {}): ContainerConfig => ({
      name,
      image: b.image,
      env: [{ name: 'GREETING', value: 'hi' }],
      mounts: [],
      specHash: 'abc123',
      restartCount: 2,
      security: {},
      ...b.command(behaviour),
      ...extra,
    });

    it('creates a sandbox that publishes the declared ports on the node and has a pod IP', async () => {
      const pod = newPod();
      const sandbox = await rt.createSandbox(pod, {
        ports: [{ containerName: 'app', containerPort: 8080, hostPort: 0, protocol: 'TCP' }],
      });
      expect(sandbox.podIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(sandbox.portMappings).toHaveLength(1);
      expect(sandbox.portMappings[0]?.hostPort).toBeGreaterThan(0);
      await rt.removeSandbox(sandbox.id, pod);
    }, 60_000);

    it('starts a container in the sandbox, lists it with its labels, and reports it running', async () => {
      const pod = newPod();
      const sandbox = await rt.createSandbox(pod, { ports: [] });
      await rt.ensureImage(b.image, 'IfNotPresent');
      const id = await rt.startContainer(pod, sandbox.id, config('app', {}));
      b.behave(id, {});

      const info = await rt.inspect(id);
      const listed = (await rt.listManaged()).find((c) => c.id === id);

      expect(info?.running).toBe(true);
      expect(listed).toMatchObject({
        podUid: pod.uid,
        podName: pod.name,
        podNamespace: 'default',
        role: 'container',
        containerName: 'app',
        specHash: 'abc123',
        restartCount: 2,
        running: true,
      });
      expect((await rt.listManaged()).find((c) => c.id === sandbox.id)?.role).toBe('sandbox');
      await rt.stopAndRemove(id, 0);
      await rt.removeSandbox(sandbox.id, pod);
    }, 60_000);

    it('reports the exit code of a container that exited, and keeps its output until it is removed', async () => {
      const pod = newPod();
      const sandbox = await rt.createSandbox(pod, { ports: [] });
      const id = await rt.startContainer(pod, sandbox.id, config('job', { exitCode: 3, out: 'one\\ntwo\\n' }));
      b.behave(id, { exitCode: 3, out: 'one\ntwo\n' });

      const info = await waitFor(
        () => rt.inspect(id),
        (i) => i?.running === false,
      );
      const tail = await rt.logTail(id, { tailLines: 1, limitBytes: 1024 });

      expect(info).toMatchObject({ running: false, exitCode: 3, oomKilled: false });
      expect(tail).toBe('two\n');
      await rt.stopAndRemove(id, 0);
      expect(await rt.inspect(id)).toBeUndefined();
      await rt.removeSandbox(sandbox.id, pod);
    }, 60_000);

    it("reads a running container's CPU time (never going back) and memory working set, and nothing once it is gone", async () => {
      const pod = newPod();
      const sandbox = await rt.createSandbox(pod, { ports: [] });
      const id = await rt.startContainer(pod, sandbox.id, config('app', {}));
      b.behave(id, {});
      const first = await rt.stats(id);
      const second = await rt.stats(id);
      expect(first?.cpuUsageNanos).toBeGreaterThanOrEqual(0);
      expect(first?.memoryWorkingSetBytes).toBeGreaterThanOrEqual(0);
      expect(second?.cpuUsageNanos).toBeGreaterThanOrEqual(first?.cpuUsageNanos ?? 0);
      await rt.stopAndRemove(id, 0);
      expect(await rt.stats(id)).toBeUndefined();
      await rt.removeSandbox(sandbox.id, pod);
    }, 60_000);

    it('stops and removes safely twice, and removes a sandbox already gone', async () => {
      const pod = newPod();
      const sandbox = await rt.createSandbox(pod, { ports: [] });
      const id = await rt.startContainer(pod, sandbox.id, config('app', {}));
      await rt.stopAndRemove(id, 1);
      await rt.stopAndRemove(id, 1);
      await rt.removeSandbox(sandbox.id, pod);
      await rt.removeSandbox(sandbox.id, pod);
      expect(await rt.inspect(id)).toBeUndefined();
      expect((await rt.listManaged()).some((c) => c.podUid === pod.uid)).toBe(false);
    }, 60_000);

    it('fails a pull of a missing image under imagePullPolicy Never with ImagePullFailedError', async () => {
      await expect(rt.ensureImage('ferry.local/absent:404', 'Never')).rejects.toBeInstanceOf(ImagePullFailedError);
    });

    it('says the image runs as root when it declares no user', async () => {
      await rt.ensureImage(b.image, 'IfNotPresent');
      expect(await rt.imageUser(b.image)).toBe('');
    });

    // What only a real engine has: namespaces. The fake runs no processes.
    if (b.name === 'docker') {
      it('gives the containers of one pod one IPC namespace and /dev/shm, and another pod its own', async () => {
        const pod = newPod();
        const sandbox = await rt.createSandbox(pod, { ports: [] });
        const writer = await rt.startContainer(pod, sandbox.id, config('writer', {}));
        const reader = await rt.startContainer(pod, sandbox.id, config('reader', {}));
        const other = newPod();
        const otherSandbox = await rt.createSandbox(other, { ports: [] });
        const stranger = await rt.startContainer(other, otherSandbox.id, config('app', {}));
        const sameNs = ['sh', '-c', '[ "$(cat /dev/shm/ns)" = "$(readlink /proc/self/ns/ipc)" ]'];

        const wrote = await rt.exec(writer, ['sh', '-c', 'readlink /proc/self/ns/ipc > /dev/shm/ns'], 5000);
        const shared = await rt.exec(reader, sameNs, 5000);
        const isolated = await rt.exec(stranger, ['test', '-e', '/dev/shm/ns'], 5000);

        expect(wrote).toBe(0);
        expect(shared).toBe(0);
        expect(isolated).not.toBe(0);
        for (const id of [writer, reader, stranger]) await rt.stopAndRemove(id, 0);
        await rt.removeSandbox(sandbox.id, pod);
        await rt.removeSandbox(otherSandbox.id, other);
      }, 60_000);
    }

    it('runs a command in a running container and resolves to its exit code', async () => {
      const pod = newPod();
      const sandbox = await rt.createSandbox(pod, { ports: [] });
      const id = await rt.startContainer(pod, sandbox.id, config('app', {}));
      if (b.runtime instanceof FakeRuntime) b.runtime.execResults.set('false', 1);
      expect(await rt.exec(id, ['true'], 5000)).toBe(0);
      expect(await rt.exec(id, ['false'], 5000)).toBe(1);
      await rt.stopAndRemove(id, 0);
      await rt.removeSandbox(sandbox.id, pod);
    }, 60_000);
  });
}
