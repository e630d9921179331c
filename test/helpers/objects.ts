/** Builders for the objects tests need, with Kubernetes defaults where a test does not care. */
import type { Node, Pod } from '../../schemas';

export interface NodeOptions {
  cpu?: string;
  memory?: string;
  pods?: number;
  zone?: string;
  ready?: boolean;
  unschedulable?: boolean;
  labels?: Record<string, string>;
  taints?: NonNullable<Node['spec']>['taints'];
}

export function makeNode(name: string, o: NodeOptions = {}): Node {
  const resources = { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: String(o.pods ?? 110) };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        ...(o.zone ? { 'topology.kubernetes.io/zone': o.zone } : {}),
        ...o.labels,
      },
    },
    spec: { ...(o.unschedulable ? { unschedulable: true } : {}), ...(o.taints ? { taints: o.taints } : {}) },
    status: {
      capacity: resources,
      allocatable: resources,
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True', reason: 'AgentReady' }],
      addresses: [{ type: 'InternalIP', address: '127.0.1.1' }],
    },
  };
}

export interface PodOptions {
  namespace?: string;
  cpu?: string;
  memory?: string;
  owner?: { kind: string; name: string; uid: string };
  nodeSelector?: Record<string, string>;
  tolerations?: Pod['spec']['tolerations'];
  hostPort?: number;
  nodeName?: string;
  labels?: Record<string, string>;
}

export function makePod(name: string, o: PodOptions = {}): Pod {
  const requests: Record<string, string> = {};
  if (o.cpu) requests.cpu = o.cpu;
  if (o.memory) requests.memory = o.memory;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.namespace ?? 'default',
      ...(o.labels ? { labels: o.labels } : {}),
      ...(o.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', ...o.owner, controller: true }] } : {}),
    },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'ferry.local/busybox:1',
          ...(Object.keys(requests).length ? { resources: { requests } } : {}),
          ...(o.hostPort ? { ports: [{ containerPort: 80, hostPort: o.hostPort, protocol: 'TCP' as const }] } : {}),
        },
      ],
      restartPolicy: 'Always',
      ...(o.nodeSelector ? { nodeSelector: o.nodeSelector } : {}),
      ...(o.tolerations ? { tolerations: o.tolerations } : {}),
      ...(o.nodeName ? { nodeName: o.nodeName } : {}),
    },
  };
}
