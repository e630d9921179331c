/**
 * End-to-end on real Docker: what an operator scrapes. The server's /metrics counts the node's
 * held syncs and the scheduler's binds and shows the node Ready; the agent's own /metrics, on its
 * node's loopback address, shows the running pod, its readiness probes and its syncs.
 */
import { expect, it } from 'vitest';
import type { Node } from '../../schemas';
import { useCluster } from './helpers/cluster';
import { describeDocker } from './helpers/docker';
import { httpdDeployment } from './helpers/workloads';

const value = (text: string, series: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
};

describeDocker('e2e: metrics of the control plane and of an agent on real Docker', () => {
  const c = useCluster(1);

  it("shows a running pod's probes and syncs on the agent, and the node and its syncs on the server", async () => {
    // prepare
    await c.post('/apis/apps/v1/namespaces/default/deployments', httpdDeployment('observed', { replicas: 1 }));
    await c.waitFor(async () => (await c.readyPods('observed-')).length === 1, 60_000, 'the pod Ready');
    const node = (await c.store.list<Node>('Node')).items[0] as Node;
    const ip = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address as string;

    // act
    const agent = await (await fetch(`http://${ip}:10255/metrics`)).text();
    const server = await c.get('/metrics');

    // assess
    expect(value(agent, 'ferry_agent_pods{phase="Running"}')).toBe(1);
    expect(value(agent, 'prober_probe_total{probe_type="Readiness",result="successful"}')).toBeGreaterThan(0);
    expect(value(agent, 'ferry_agent_sync_duration_seconds_count{mode="held"}')).toBeGreaterThan(0);
    expect(value(agent, 'ferry_agent_proxy_services')).toBeGreaterThan(0); // the kubernetes Service
    expect(server.status).toBe(200);
    expect(value(server.text, 'ferry_cluster_nodes{ready="True"}')).toBe(1);
    expect(value(server.text, 'ferry_cluster_pods{phase="Running"}')).toBe(1);
    expect(value(server.text, 'scheduler_schedule_attempts_total{result="scheduled"}')).toBeGreaterThan(0);
    expect(
      value(server.text, 'ferry_agent_syncs_total{mode="held",changes="false"}') +
        value(server.text, 'ferry_agent_syncs_total{mode="held",changes="true"}'),
    ).toBeGreaterThan(0);
    expect(server.text).not.toContain('observed-');
  });
});
