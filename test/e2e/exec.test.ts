/**
 * End-to-end on real Docker with the real kubectl (1.30's client, over HTTPS since kubectl sends
 * a token only over TLS): `kubectl exec` (output, the exit code propagated, stdin piped, `-it` on a
 * pseudo-terminal with its size), `kubectl
 * cp` both ways (exec + busybox tar), `kubectl port-forward` to busybox httpd, and `kubectl logs -f`
 * following a container until it stops.
 * The agent dials back over its own HTTPS connection for each session.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { silentLogger } from '../../functions/log';
import { startLocalControlPlane } from '../../functions/runtime/local';
import type { Pod } from '../../schemas';
import { describeKubectl, runKubectl } from '../helpers/kubectl';
import { buildForSuite, TestCluster } from './helpers/cluster';
import { describeDocker } from './helpers/docker';

const TLS = join(import.meta.dirname, '../fixtures/tls');
const BUSYBOX = 'ferry.local/busybox:1';

/** The e2e cluster with its API over HTTPS (the test certificate), which the agents trust. */
class TlsCluster extends TestCluster {
  override async startControlPlane(): Promise<void> {
    this.plane = await startLocalControlPlane({
      dataDir: this.dataDir,
      port: this.port,
      log: silentLogger,
      provider: this.provider,
      tls: { cert: await readFile(join(TLS, 'cert.pem')), key: await readFile(join(TLS, 'key.pem')) },
    });
    this.port = this.plane.port;
  }
}

function kubectlWithInput(kubeconfig: string, args: string[], input: string) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('kubectl', ['--kubeconfig', kubeconfig, ...args], { timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input);
  });
}

describeDocker('kubectl exec, cp and logs -f on real Docker', () => {
  describeKubectl('with the real kubectl', () => {
    const c = new TlsCluster();
    let kubeconfig: string;
    let dir: string;
    const kubectl = (...args: string[]) => runKubectl(kubeconfig, args, 30_000);

    beforeAll(async () => {
      await buildForSuite();
      process.env.NODE_EXTRA_CA_CERTS = join(TLS, 'cert.pem');
      await c.start(1);
      dir = await mkdtemp(join(tmpdir(), 'ferry-e2e-exec-'));
      kubeconfig = join(dir, 'kubeconfig');
      const k = (...args: string[]) => runKubectl(kubeconfig, args);
      await k(
        'config',
        'set-cluster',
        'ferry',
        `--server=${c.plane.url}`,
        `--certificate-authority=${join(TLS, 'cert.pem')}`,
      );
      await k('config', 'set-credentials', 'admin', `--token=${c.plane.adminToken}`);
      await k('config', 'set-context', 'ferry', '--cluster=ferry', '--user=admin');
      await k('config', 'use-context', 'ferry');
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'box', namespace: 'default' },
        spec: {
          containers: [{ name: 'box', image: BUSYBOX, command: ['sh', '-c', 'echo started; sleep 3600'] }],
          terminationGracePeriodSeconds: 1,
        },
      };
      await writeFile(join(dir, 'box.json'), JSON.stringify(pod));
      const created = await k('apply', '-f', join(dir, 'box.json'));
      expect(created.code, created.stderr).toBe(0);
      await c.waitFor(
        async () =>
          (await c.store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'box' }))?.status?.phase === 'Running',
        60_000,
        'pod box Running',
      );
    }, 180_000);

    afterAll(() => c.stop(), 60_000);

    it('runs a command in the container and propagates its exit code', async () => {
      // act
      const hostname = await kubectl('exec', 'box', '--', 'cat', '/etc/hostname');
      const failing = await kubectl('exec', 'box', '--', 'sh', '-c', 'echo to-stderr >&2; exit 7');

      // assess
      expect(hostname.code, hostname.stderr).toBe(0);
      expect(hostname.stdout.trim()).toBe('box');
      expect(failing.code).toBe(7);
      expect(failing.stderr).toContain('to-stderr');
      expect(failing.stderr).toContain('command terminated with exit code 7');
    }, 60_000);

    it('pipes stdin to the command (kubectl exec -i) and ends it at EOF', async () => {
      // act
      const res = await kubectlWithInput(
        kubeconfig,
        ['exec', '-i', 'box', '--', 'sh', '-c', 'wc -l; cat /proc/1/comm'],
        'a\nb\nc\n',
      );

      // assess
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout.split('\n')[0]?.trim()).toBe('3');
    }, 60_000);

    it('gives kubectl exec -it a terminal of the size of the one kubectl runs in', async () => {
      // prepare: script(1) runs kubectl on a pseudo-terminal of a known size (a fixed command line).
      // The size follows the start (the resize channel), as with the kubelet: the command waits a moment.
      const line = `stty cols 111 rows 33; kubectl --kubeconfig ${kubeconfig} exec -it box -- sh -c 'sleep 1; stty size; tty; exit 4'`;

      // act
      const res = await new Promise<{ code: number; out: string }>((resolve) => {
        const child = spawn('script', ['-qec', line, '/dev/null'], { timeout: 30_000 });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('close', (code) => resolve({ code: code ?? 1, out }));
        child.stdin.end();
      });

      // assess
      expect(res.out).toContain('33 111');
      expect(res.out).toMatch(/\/dev\/pts\/\d+/);
      expect(res.code).toBe(4);
    }, 60_000);

    it('copies a file into the container and back with kubectl cp (exec + tar)', async () => {
      // prepare
      const local = join(dir, 'note.txt');
      await writeFile(local, 'copied through ferry\n');

      // act
      const up = await kubectl('cp', local, 'box:/tmp/note.txt');
      const inside = await kubectl('exec', 'box', '--', 'cat', '/tmp/note.txt');
      const down = await kubectl('cp', 'box:/tmp/note.txt', join(dir, 'back.txt'));

      // assess
      expect(up.code, up.stderr).toBe(0);
      expect(inside.stdout).toBe('copied through ferry\n');
      expect(down.code, down.stderr).toBe(0);
      expect(await readFile(join(dir, 'back.txt'), 'utf8')).toBe('copied through ferry\n');
    }, 60_000);

    it("forwards a local port to the pod's port with kubectl port-forward (SPDY/3.1, the agent dialing the pod IP)", async () => {
      // prepare: busybox httpd in the pod, a free local port
      const web = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web', namespace: 'default' },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'web',
              image: BUSYBOX,
              command: [
                'sh',
                '-c',
                'mkdir -p /www && echo hello-forwarded > /www/index.html && exec httpd -f -p 8080 -h /www',
              ],
            },
          ],
        },
      };
      await writeFile(join(dir, 'web.json'), JSON.stringify(web));
      await kubectl('apply', '-f', join(dir, 'web.json'));
      await c.waitFor(
        async () =>
          (await c.store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'web' }))?.status?.phase === 'Running',
        60_000,
        'pod web Running',
      );
      const free = createServer();
      await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
      const localPort = (free.address() as AddressInfo).port;
      await new Promise((r) => free.close(r));

      // act
      const forward = spawn('kubectl', ['--kubeconfig', kubeconfig, 'port-forward', 'pod/web', `${localPort}:8080`]);
      let out = '';
      forward.stdout.on('data', (d: Buffer) => (out += d.toString()));
      forward.stderr.on('data', (d: Buffer) => (out += d.toString()));
      for (let i = 0; i < 150 && !out.includes('Forwarding from'); i++) await new Promise((r) => setTimeout(r, 100));
      let body = '';
      for (let i = 0; i < 20 && body === ''; i++) {
        body = await fetch(`http://127.0.0.1:${localPort}/`).then(
          (r) => r.text(),
          () => '',
        );
        if (body === '') await new Promise((r) => setTimeout(r, 250));
      }
      forward.kill();

      // assess
      expect(out).toContain(`Forwarding from 127.0.0.1:${localPort} -> 8080`);
      expect(body).toBe('hello-forwarded\n');
    }, 90_000);

    it('follows the output with kubectl logs -f until the container stops', async () => {
      // prepare
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'ticker', namespace: 'default' },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'ticker',
              image: BUSYBOX,
              command: ['sh', '-c', 'echo tick 1; sleep 2; echo tick 2; sleep 2; echo tick 3'],
            },
          ],
        },
      };
      await writeFile(join(dir, 'ticker.json'), JSON.stringify(pod));
      await kubectl('apply', '-f', join(dir, 'ticker.json'));
      await c.waitFor(
        async () =>
          (await c.store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'ticker' }))?.status?.phase === 'Running',
        60_000,
        'pod ticker Running',
      );

      // act
      const res = await kubectl('logs', '-f', 'ticker');
      const stamped = await kubectl('logs', 'box', '--timestamps');

      // assess: every line, including those printed after the follow began, and it ended by itself
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain('tick 3\n');
      expect(stamped.stdout).toMatch(/^\d{4}-\d{2}-\d{2}T\S+Z started\n$/);
    }, 60_000);
  });
});
