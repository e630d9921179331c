/**
 * The agent's own /metrics: pods and containers by state and restarts from the pod manager, probe
 * results counted as the prober runs them, sync latency and errors, what the proxy serves; on
 * loopback only, with bounded labels (no pod name in the text).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../agent/config';
import {
  type AgentMetricsSource,
  metricsAddress,
  renderAgentMetrics,
  startMetricsEndpoint,
} from '../../../agent/metrics-endpoint';
import { agentCounters, noteSync, noteSyncError } from '../../../agent/metrics-endpoint-state';
import type { ServiceRoute } from '../../../schemas/agent-protocol';
import { condition, pod, startManager, until } from './pod-harness';

const log = { debug() {}, info() {}, warn() {}, error() {} };

const line = (text: string, start: string) => text.split('\n').find((l) => l.startsWith(start));

describe("the agent's metrics", () => {
  it('counts pods by phase, containers by state and their restarts, and what the proxy serves', () => {
    // prepare
    const routes: ServiceRoute[] = [
      {
        namespace: 'default',
        name: 'web',
        clusterIP: '10.96.0.10',
        ports: [{ port: 80, nodePort: 30080, protocol: 'TCP', endpoints: [{ ip: '127.0.1.1', port: 31000 }] }],
      },
      { namespace: 'default', name: 'db', clusterIP: 'None', ports: [{ port: 5432, protocol: 'TCP', endpoints: [] }] },
    ];
    const source: AgentMetricsSource = {
      podStatuses: () => [
        {
          phase: 'Running',
          containerStatuses: [
            { state: { running: {} }, restartCount: 2 },
            { state: { waiting: { reason: 'CrashLoopBackOff' } }, restartCount: 5 },
          ],
          initContainerStatuses: [{ state: { terminated: { exitCode: 0 } }, restartCount: 0 }],
        },
        { phase: 'Pending' },
        { phase: '<b>made-up</b>' },
      ],
      routes: () => routes,
      clusterIPs: () => true,
    };

    // act
    const text = renderAgentMetrics(source);

    // assess
    expect(text).toContain('ferry_agent_pods{phase="Running"} 1');
    expect(text).toContain('ferry_agent_pods{phase="Pending"} 1');
    expect(text).toContain('ferry_agent_pods{phase="Unknown"} 1');
    expect(text).toContain('ferry_agent_containers{state="running"} 1');
    expect(text).toContain('ferry_agent_containers{state="waiting"} 1');
    expect(text).toContain('ferry_agent_containers{state="terminated"} 1');
    expect(text).toContain('ferry_agent_container_restarts 7');
    expect(text).toContain('ferry_agent_proxy_services 2');
    expect(text).toContain('ferry_agent_proxy_rules{kind="node_port"} 1');
    expect(text).toContain('ferry_agent_proxy_rules{kind="cluster_ip_port"} 1');
    expect(text).toContain('ferry_agent_proxy_rules{kind="endpoint"} 1');
    expect(text).toContain('ferry_agent_cluster_ips_served 1');
    expect(text).not.toContain('made-up');
    expect(text).not.toContain('web');
  });

  it('keeps sync latency by mode and counts failed syncs', () => {
    // prepare
    const held = agentCounters.syncs.held.count;
    const errors = agentCounters.syncErrors.value;

    // act
    noteSync(true, 4.2);
    noteSync(false, 0.003);
    noteSyncError();
    const text = renderAgentMetrics({ podStatuses: () => [], routes: () => [], clusterIPs: () => false });

    // assess
    expect(agentCounters.syncs.held.count).toBe(held + 1);
    expect(line(text, 'ferry_agent_sync_errors_total ')).toBe(`ferry_agent_sync_errors_total ${errors + 1}`);
    expect(text).toMatch(/ferry_agent_sync_duration_seconds_bucket\{mode="held",le="5"\} [1-9]/);
    expect(text).toMatch(/ferry_agent_sync_duration_seconds_bucket\{mode="quick",le="0.005"\} [1-9]/);
  });

  it('counts probe failures as the pod manager runs the probes', async () => {
    // prepare
    const failedBefore = agentCounters.probes.get('Readiness failed')?.value ?? 0;
    const { m, runtime } = await startManager();
    runtime.execResults.set('ready?', 1);
    const readinessProbe = { exec: { command: ['ready?'] }, periodSeconds: 1, failureThreshold: 3 };

    // act
    m.setDesired([pod({ containers: [{ name: 'app', image: 'img', readinessProbe }] })]);
    await until(
      () => (agentCounters.probes.get('Readiness failed')?.value ?? 0) > failedBefore,
      'a failed readiness probe',
    );
    runtime.execResults.set('ready?', 0);
    await until(() => condition(m, 'Ready') === 'True', 'Ready', 4000);
    const text = renderAgentMetrics({ podStatuses: () => m.statuses(), routes: () => [], clusterIPs: () => false });

    // assess
    expect(text).toMatch(/prober_probe_total\{probe_type="Readiness",result="failed"\} [1-9]/);
    expect(text).toMatch(/prober_probe_total\{probe_type="Readiness",result="successful"\} [1-9]/);
    expect(text).toContain('ferry_agent_pods{phase="Running"} 1');
    expect(text).not.toContain('web-1');
  });

  it('listens on loopback only: the node address in local mode, else 127.0.0.1', async () => {
    // prepare
    expect(metricsAddress('10.0.3.7')).toBe('127.0.0.1');
    expect(metricsAddress('127.0.1.4')).toBe('127.0.1.4');
    const endpoint = await startMetricsEndpoint(
      '127.0.0.1',
      0,
      { podStatuses: () => [], routes: () => [], clusterIPs: () => false },
      log,
    );

    // act
    const base = endpoint.url.replace(/\/metrics$/, '');
    const ok = await fetch(endpoint.url);
    const other = await fetch(`${base}/pods`);
    const post = await fetch(endpoint.url, { method: 'POST' });
    const body = await ok.text();
    await endpoint.close();

    // assess
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(body).toContain('# TYPE prober_probe_total counter');
    expect([other.status, post.status]).toEqual([404, 405]);
  });

  it('takes its port from --metrics-port or FERRY_METRICS_PORT (default 10255), off turns it off, nonsense is refused', () => {
    // prepare
    const base = ['--api-url', 'http://127.0.0.1:7443'];

    // act + assess
    expect(loadConfig(base, {}).metricsPort).toBe(10255);
    expect(loadConfig([...base, '--metrics-port', 'off'], {}).metricsPort).toBeUndefined();
    expect(loadConfig(base, { FERRY_METRICS_PORT: '9100' }).metricsPort).toBe(9100);
    expect(() => loadConfig([...base, '--metrics-port', '70000'], {})).toThrow(ConfigError);
    expect(() => loadConfig([...base, '--metrics-port', '1;rm -rf /'], {})).toThrow(/--metrics-port must be/);
  });
});
