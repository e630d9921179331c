/**
 * The workload the cost and scale benches run: per ten pods, one Deployment of ten replicas whose
 * pods read a ConfigMap, and one Service in front of it, applied through the public API with an
 * admin token (as `ferry apply` would). A rolling update changes every Deployment's image.
 */

export const PODS_PER_APP = 10;

export function appObjects(i: number, image = 'ferry.local/app:1', replicas = PODS_PER_APP): Record<string, unknown>[] {
  const name = `app-${String(i).padStart(4, '0')}`;
  const labels = { app: name };
  return [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { MODE: 'bench' } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: 'default', labels },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name: 'app',
                image,
                ports: [{ name: 'http', containerPort: 8080 }],
                envFrom: [{ configMapRef: { name } }],
                resources: { requests: { cpu: '10m', memory: '16Mi' } },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: 'default', labels },
      spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    },
  ];
}

const COLLECTION: Record<string, string> = {
  ConfigMap: '/api/v1/namespaces/default/configmaps',
  Service: '/api/v1/namespaces/default/services',
  Deployment: '/apis/apps/v1/namespaces/default/deployments',
};

/** A small admin client for the public API (fetch; the bench, not the agent). */
export class AdminClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  async call<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': contentType },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  }

  /** A bootstrap token for agents to register with. */
  async bootstrapToken(): Promise<string> {
    const res = await this.call<{ status: { token: string } }>('POST', '/apis/ferry.dev/v1/tokens', {
      apiVersion: 'ferry.dev/v1',
      kind: 'Token',
      metadata: { name: `bench-bootstrap-${Date.now()}` },
      // One token for the whole fleet: bootstrap tokens are single-use unless given a number of uses.
      spec: { role: 'bootstrap', ttlSeconds: 7200, maxUses: 10_000 },
    });
    return res.status.token;
  }

  /** Creates `apps` apps of `replicas` pods each, a few at a time. */
  async applyApps(apps: number, concurrency = 4, replicas = PODS_PER_APP): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < apps) {
        const i = next++;
        for (const obj of appObjects(i, undefined, replicas))
          await this.call('POST', COLLECTION[obj.kind as string] as string, obj);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, apps) }, worker));
  }

  /** The rolling update: every Deployment's image changes. */
  async rollApps(apps: number, image: string, concurrency = 4): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < apps) {
        const name = `app-${String(next++).padStart(4, '0')}`;
        await this.call(
          'PATCH',
          `${COLLECTION.Deployment}/${name}`,
          { spec: { template: { spec: { containers: [{ name: 'app', image }] } } } },
          'application/strategic-merge-patch+json',
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, apps) }, worker));
  }
}

type PodLike = {
  metadata: { deletionTimestamp?: string };
  spec?: { nodeName?: string; containers?: { image?: string }[] };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
};

/** Pods counted the way the benches judge progress: bound, Ready, and on the wanted image. */
export function podCounts(pods: PodLike[], image?: string) {
  let bound = 0;
  let ready = 0;
  let readyOnImage = 0;
  let terminating = 0;
  for (const p of pods) {
    if (p.metadata.deletionTimestamp) {
      terminating++;
      continue;
    }
    if (p.spec?.nodeName) bound++;
    const isReady = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    if (isReady) ready++;
    if (isReady && image && p.spec?.containers?.[0]?.image === image) readyOnImage++;
  }
  return { total: pods.length, bound, ready, readyOnImage, terminating };
}
