/**
 * What the held-sync tests (held-liveness, held-beats) share: a node's status as an agent reports
 * it, a JSON POST that fails loudly on anything but 200, and registering a node with a bootstrap
 * token into a local control plane.
 */
import type { LocalControlPlane } from '../../../functions/runtime/local';
import { issueToken } from '../../../functions/tokens';

export const NODE_STATUS = {
  capacity: { cpu: '4', memory: '8Gi', pods: '110' },
  allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
  addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
  conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady' }],
};

export async function postJson(url: string, token: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/** Registers `nodeName` and returns its node credential. */
export async function registerNode(p: LocalControlPlane, nodeName: string): Promise<string> {
  const bootstrap = (await issueToken(p.deps, { role: 'bootstrap', ttlSeconds: 600 })).token;
  const reg = await postJson(`${p.url}/agent/v1/register`, bootstrap, { nodeName, status: NODE_STATUS });
  return String(reg.token);
}
