/**
 * End-to-end on real Docker: a cloud machine's first boot, minus the cloud. The user-data that
 * every provider passes (providers/userdata.ts) runs here as a script, with the agent image built
 * locally (scripts/build-agent-image.sh); it starts the agent as a container with the Docker
 * socket mounted, which registers with its bootstrap token and runs a pod. Loopback only: the
 * node's address is 127.0.1.60.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { issueToken } from '../../functions/tokens';
import { userData } from '../../providers/userdata';
import type { Deployment, Node } from '../../schemas';
import { applyDefaults } from '../../schemas';
import { docker, useCluster } from './helpers/cluster';
import { describeDocker } from './helpers/docker';

const ROOT = join(import.meta.dirname, '../..');
const NODE = 'ctr-node';

describeDocker('e2e: the agent as a container, started by the user-data', () => {
  const cluster = useCluster(0, {
    setupMs: 180_000,
    before: () => {
      execFileSync('bash', [join(ROOT, 'scripts/build-agent-image.sh')], { stdio: 'ignore' });
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'ferry-boot-'));

  afterAll(async () => {
    execFileSync('docker', ['rm', '-f', 'ferry-agent'], { stdio: 'ignore' });
    const left = docker('ps', '-aq', '--filter', `label=ferry.node=${NODE}`).split('\n').filter(Boolean);
    if (left.length) execFileSync('docker', ['rm', '-f', ...left], { stdio: 'ignore' });
    await cluster.stop();
  }, 60_000);

  it('boots a node from the user-data script and runs a pod on it', async () => {
    // As a NodePool issues it: bound to the machine's name, carrying the pool's label.
    const { token } = await issueToken(cluster.plane.deps, {
      role: 'bootstrap',
      ttlSeconds: 600,
      nodeName: NODE,
      nodeLabels: { 'ferry.dev/pool': 'ctr' },
    });
    const script = userData(
      {
        name: NODE,
        cluster: 'e2e',
        cloud: { name: 'e2e', uid: 'e2e' },
        pool: 'ctr',
        instanceType: 'local',
        zone: 'z1',
        tags: {},
        bootstrap: { apiUrl: cluster.plane.url, token, labels: { 'ferry.dev/pool': 'ctr' } },
      },
      {
        agentImage: 'ferry.local/agent:dev',
        etcDir: join(dir, 'etc'),
        stateDir: join(dir, 'state'),
        env: { FERRY_NODE_IP: '127.0.1.60', FERRY_SANDBOX_IMAGE: 'ferry.local/pause:1', FERRY_LOG_LEVEL: 'warn' },
      },
    );
    writeFileSync(join(dir, 'user-data.sh'), script);

    execFileSync('bash', [join(dir, 'user-data.sh')], { stdio: 'ignore' });

    await cluster.waitFor(async () => (await cluster.readyNodes()).includes(NODE), 30_000, 'the node Ready');
    const node = (await cluster.store.get<Node>({ kind: 'Node', name: NODE })) as Node;
    expect(node.metadata.labels?.['ferry.dev/pool']).toBe('ctr');
    expect(node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address).toBe('127.0.1.60');
    expect(docker('inspect', '-f', '{{.HostConfig.RestartPolicy.Name}}', 'ferry-agent')).toBe('always');

    await cluster.post(
      '/apis/apps/v1/namespaces/default/deployments',
      applyDefaults({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'boot', namespace: 'default' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'boot' } },
          template: {
            metadata: { labels: { app: 'boot' } },
            spec: {
              containers: [
                {
                  name: 'httpd',
                  image: 'ferry.local/busybox:1',
                  command: ['httpd', '-f', '-p', '8080', '-h', '/www'],
                  ports: [{ containerPort: 8080 }],
                  readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      } as unknown as Deployment),
    );
    await cluster.waitFor(async () => (await cluster.readyPods('boot-')).length === 1, 30_000, 'the pod Ready');
    const [pod] = await cluster.readyPods('boot-');
    expect(pod?.spec.nodeName).toBe(NODE);
  }, 90_000);
});
