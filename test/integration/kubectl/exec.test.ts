/**
 * kubectl's streaming verbs against ferry with the real kubectl (1.30's client, WebSockets
 * v5.channel.k8s.io): exec (exit code, stdin piped, a TTY's size), attach, logs -f / --timestamps,
 * and what is refused (a reader's exec); port-forward over SPDY/3.1 (1.30) and over the WebSocket
 * tunnel (a 1.31+ client, when one is installed beside kubectl). The node is played by the agent's own
 * session code over a fake runtime (test/helpers/stream-node.ts): everything but Docker is real.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LocalControlPlane } from '../../../functions/runtime/local';
import { issueToken } from '../../../functions/tokens';
import type { Pod } from '../../../schemas';
import { describeKubectl, kubectlProblem, runKubectl, startKubectlPlane } from '../../helpers/kubectl';
import { type StreamNode, startStreamNode } from '../../helpers/stream-node';

const CA = join(import.meta.dirname, '../../fixtures/tls/cert.pem');

/** The "pod's" echo server (the test node forwards to loopback); kubectl picks the local port. */
async function echoPod(): Promise<{ server: Server; podPort: number }> {
  const server = createServer((c) => c.on('data', (d) => c.write(`echo:${d}`)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, podPort: (server.address() as AddressInfo).port };
}

/** Sends `text` through the forwarded local port; the first answer. */
function askThrough(localPort: number, text: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const c = connect(localPort, '127.0.0.1', () => c.write(text));
    c.once('data', (d) => {
      resolve(d.toString());
      c.end();
    });
    c.on('error', reject);
  });
}

/** kubectl with `input` on its stdin; its exit code and output. */
function kubectlWithInput(
  kubeconfig: string,
  args: string[],
  input: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('kubectl', ['--kubeconfig', kubeconfig, ...args], {
      timeout: 20_000,
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input);
  });
}

/**
 * `kubectl port-forward pod/box :podPort`, kubectl picking the local port (a port freed here to be
 * handed to kubectl could be taken meanwhile by a suite running beside this one); resolves once
 * kubectl forwards from 127.0.0.1, with that port and everything kubectl printed so far and after.
 */
async function portForward(
  kubeconfig: string,
  podPort: number,
): Promise<{ localPort: number; output: () => string; kill: () => void }> {
  const forward = spawn('kubectl', ['--kubeconfig', kubeconfig, 'port-forward', 'pod/box', `:${podPort}`]);
  let out = '';
  forward.stdout.on('data', (d: Buffer) => (out += d.toString()));
  forward.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const listening = new RegExp(`Forwarding from 127\\.0\\.0\\.1:(\\d+) -> ${podPort}\n`);
  for (let i = 0; i < 200 && !listening.test(out); i++) await new Promise((r) => setTimeout(r, 100));
  const localPort = Number(listening.exec(out)?.[1] ?? 0);
  return { localPort, output: () => out, kill: () => forward.kill() };
}

describeKubectl('kubectl exec, attach and logs -f against ferry', () => {
  let plane: LocalControlPlane;
  let kubeconfig: string;
  let stop = async () => {};
  const nodes: StreamNode[] = [];
  let pod: Pod;

  beforeAll(async () => {
    ({ plane, kubeconfig, stop } = await startKubectlPlane('ferry-kubectl-exec-'));
    const ca = await readFile(CA, 'utf8');
    for (const name of ['node-1', 'node-2'])
      nodes.push(await startStreamNode(plane.deps, plane.store, plane.url, name, ca));
    const run = await kubectl('run', 'box', '--image=ferry.local/busybox:1', '--restart=Never', '--', 'sleep', '3600');
    expect(run.code, run.stderr).toBe(0);
    for (let i = 0; i < 100; i++) {
      pod = (await plane.store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'box' })) as Pod;
      if (pod.status?.phase === 'Running') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(pod.status?.phase).toBe('Running');
  }, 60_000);

  afterAll(async () => {
    for (const n of nodes) n.stop();
    await stop();
  });

  const kubectl = (...args: string[]) => runKubectl(kubeconfig, args);
  const node = () => nodes[pod.spec.nodeName === 'node-1' ? 0 : 1] as StreamNode;
  const container = () => node().containerOf(pod.metadata.uid as string, 'box');

  it('runs a command with kubectl exec and prints its output, exiting 0', async () => {
    // act
    const res = await kubectl('exec', 'box', '--', 'echo', 'hello', 'from', 'ferry');

    // assess
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe('hello from ferry\n');
    expect(
      node()
        .runtime.calls.filter((c) => c.call === 'execStream')
        .at(-1)?.detail,
    ).toBe('echo hello from ferry');
  });

  it("propagates the command's exit code, as kubectl does against the kubelet", async () => {
    // act
    const res = await kubectl('exec', 'box', '--', 'sh', '-c', 'exit 3');
    const missing = await kubectl('exec', 'box', '--', 'no-such-binary');

    // assess
    expect(res.code).toBe(3);
    expect(res.stderr).toContain('command terminated with exit code 3');
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain('executable file not found');
  });

  it('pipes stdin to the command with kubectl exec -i, ending it at EOF (the v5 close signal)', async () => {
    // act
    const res = await kubectlWithInput(kubeconfig, ['exec', '-i', 'box', '--', 'cat'], 'piped line 1\nline 2\n');

    // assess
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe('piped line 1\nline 2\n');
  });

  it('serves the same exec over SPDY/3.1 (v4.channel.k8s.io) when kubectl is told not to use WebSockets', async () => {
    // prepare
    const spdy = { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' };

    // act
    const echo = await kubectlWithInput(kubeconfig, ['exec', 'box', '--', 'echo', 'over', 'spdy'], '', spdy);
    const code = await kubectlWithInput(kubeconfig, ['exec', 'box', '--', 'sh', '-c', 'exit 5'], '', spdy);
    const piped = await kubectlWithInput(kubeconfig, ['exec', '-i', 'box', '--', 'cat'], 'through spdy\n', spdy);
    const missing = await kubectlWithInput(kubeconfig, ['exec', 'box', '--', 'no-such-binary'], '', spdy);

    // assess
    expect(echo.code, echo.stderr).toBe(0);
    expect(echo.stdout).toBe('over spdy\n');
    expect(code.code).toBe(5);
    expect(code.stderr).toContain('command terminated with exit code 5');
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout).toBe('through spdy\n');
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain('executable file not found');
  });

  it('reads the log with --timestamps and --tail from the running container, each line stamped', async () => {
    // prepare
    const id = container();
    node().runtime.print(id, 'old line\nnew line\n');

    // act
    const res = await kubectl('logs', 'box', '--timestamps', '--tail=1');

    // assess
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z new line\n$/);
  });

  it("streams a running container's output with kubectl attach until it exits", async () => {
    // prepare
    const { runtime } = node();
    const id = container();
    const before = runtime.calls.filter((c) => c.call === 'attachStream').length;

    // act
    const attach = kubectl('attach', 'box');
    for (let i = 0; i < 100 && runtime.calls.filter((c) => c.call === 'attachStream').length === before; i++)
      await new Promise((r) => setTimeout(r, 50));
    runtime.print(id, 'to the attached client\n');
    await new Promise((r) => setTimeout(r, 200));
    runtime.exit(id, 0);
    const res = await attach;
    // The next tests stream from it again: it "restarts".
    (runtime.containers.get(id) as { running: boolean }).running = true;

    // assess
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('to the attached client\n');
  });

  it('follows the output with kubectl logs -f until the container stops', async () => {
    // prepare
    const id = container();
    const { runtime } = node();
    (runtime.containers.get(id) as { output?: string }).output = '';
    runtime.print(id, 'first\n');
    const streams = () => runtime.calls.filter((c) => c.call === 'logStream').length;
    const before = streams();

    // act
    const follow = kubectl('logs', '-f', 'box');
    for (let i = 0; i < 100 && streams() === before; i++) await new Promise((r) => setTimeout(r, 50));
    runtime.print(id, 'second\n');
    await new Promise((r) => setTimeout(r, 200));
    runtime.print(id, 'third\n');
    runtime.exit(id, 0);
    const res = await follow;

    // assess
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe('first\nsecond\nthird\n');
    expect(JSON.parse(runtime.calls.filter((c) => c.call === 'logStream').at(-1)?.detail ?? '{}')).toMatchObject({
      follow: true,
    });
  });

  it('refuses kubectl exec to a reader (create on pods/exec), starting nothing on the node', async () => {
    // prepare
    const { token } = await issueToken(plane.deps, { role: 'reader' });
    const before = nodes.reduce((n, x) => n + x.seen.length, 0);

    // act
    const res = await kubectl('--token', token, 'exec', 'box', '--', 'echo', 'nope');

    // assess
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/may not create pod\/exec "box"/);
    expect(nodes.reduce((n, x) => n + x.seen.length, 0)).toBe(before);
  });

  it('forwards local connections to a port of the pod with kubectl port-forward (SPDY/3.1), both ways, several at once and many in turn', async () => {
    // prepare: the "pod's" server (the test node forwards to loopback), and a free local port
    const { server, podPort } = await echoPod();

    // act
    const forward = await portForward(kubeconfig, podPort);
    const { localPort } = forward;
    const ask = (text: string) => askThrough(localPort, text);
    const answers = await Promise.all([ask('one'), ask('two'), ask('three')]);
    // More connections over the life of one port-forward than it holds at once (64).
    const later: string[] = [];
    for (let i = 0; i < 70; i++) later.push(await ask(`n${i}`));
    forward.kill();
    server.close();

    // assess
    expect(forward.output()).toContain(`Forwarding from 127.0.0.1:${localPort} -> ${podPort}`);
    expect(answers).toEqual(['echo:one', 'echo:two', 'echo:three']);
    expect(later).toEqual(Array.from({ length: 70 }, (_, i) => `echo:n${i}`));
  });

  it("prints the node's error when the pod's port refuses the connection", async () => {
    // prepare: a port nothing listens on
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const deadPort = (free.address() as AddressInfo).port;
    await new Promise((r) => free.close(r));

    // act
    const forward = await portForward(kubeconfig, deadPort);
    await new Promise<void>((resolve) => {
      const c = connect(forward.localPort, '127.0.0.1', () => c.write('x'));
      c.on('close', () => resolve());
      c.on('error', () => resolve());
    });
    for (let i = 0; i < 100 && !forward.output().includes('ECONNREFUSED'); i++)
      await new Promise((r) => setTimeout(r, 100));
    forward.kill();

    // assess
    const out = forward.output();
    expect(out).toContain(`error forwarding port ${deadPort} to pod box`);
    expect(out).toContain('ECONNREFUSED');
  });
});

/**
 * A kubectl of 1.31 or later: those tunnel port-forward's SPDY through a WebSocket by default
 * (PortForwardWebsockets). `/usr/bin/kubectl` picks its client by the server's minor (ferry says
 * 1.30), so the newer clients beside it are asked for by name.
 */
function tunnellingKubectl(): { command?: string; problem?: string } {
  const found = spawnSync('sh', ['-c', 'readlink -f "$(command -v kubectl)"'], { encoding: 'utf8' }).stdout.trim();
  const dir = found ? dirname(found) : '';
  for (const minor of [31, 32, 33, 34, 35]) {
    const command = join(dir, `kubectl.1.${minor}`);
    if (dir && existsSync(command) && kubectlProblem(command) === undefined) return { command };
  }
  return { problem: `no kubectl 1.31+ client beside ${found || 'kubectl'} (kubectl.1.31 ... kubectl.1.35)` };
}

const tunnel = tunnellingKubectl();

describeKubectl(
  "kubectl 1.31+'s port-forward over the WebSocket tunnel",
  () => {
    let plane: LocalControlPlane;
    let kubeconfig: string;
    let stop = async () => {};
    const nodes: StreamNode[] = [];

    beforeAll(async () => {
      ({ plane, kubeconfig, stop } = await startKubectlPlane('ferry-kubectl-tunnel-'));
      const ca = await readFile(CA, 'utf8');
      for (const name of ['node-1', 'node-2'])
        nodes.push(await startStreamNode(plane.deps, plane.store, plane.url, name, ca));
      const run = await runKubectl(kubeconfig, ['run', 'box', '--image=ferry.local/busybox:1', '--restart=Never']);
      expect(run.code, run.stderr).toBe(0);
      let pod: Pod | undefined;
      for (let i = 0; i < 100 && pod?.status?.phase !== 'Running'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        pod = await plane.store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'box' });
      }
      expect(pod?.status?.phase).toBe('Running');
    }, 60_000);

    afterAll(async () => {
      for (const n of nodes) n.stop();
      await stop();
    });

    it('forwards local connections through the tunnel, not the SPDY fallback', async () => {
      // prepare: the "pod's" server (the test node forwards to loopback); kubectl picks the local port
      const { server, podPort } = await echoPod();

      // act: -v=4 logs which dialer connected
      const forward = spawn(tunnel.command as string, [
        '--kubeconfig',
        kubeconfig,
        '-v=4',
        'port-forward',
        'pod/box',
        `:${podPort}`,
      ]);
      let out = '';
      let log = '';
      forward.stdout.on('data', (d: Buffer) => (out += d.toString()));
      forward.stderr.on('data', (d: Buffer) => (log += d.toString()));
      const listening = new RegExp(`Forwarding from 127\\.0\\.0\\.1:(\\d+) -> ${podPort}\n`);
      for (let i = 0; i < 200 && !listening.test(out); i++) await new Promise((r) => setTimeout(r, 100));
      expect(out, log).toMatch(listening);
      const localPort = Number(listening.exec(out)?.[1] ?? 0);
      const ask = (text: string) => askThrough(localPort, text);
      const answers = await Promise.all([ask('one'), ask('two')]);
      const again = await ask('three');
      forward.kill();
      server.close();

      // assess
      expect(answers).toEqual(['echo:one', 'echo:two']);
      expect(again).toBe('echo:three');
      expect(log).toMatch(/tunneling_dialer\.go.*(negotiated protocol|Negotiation complete)/);
      expect(log).not.toMatch(/fallback/i);
    });
  },
  tunnel.problem ?? kubectlProblem(),
);
