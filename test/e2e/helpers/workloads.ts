/**
 * The workloads the e2e suites serve traffic from: busybox httpd on port 8080 (named `http`), ready
 * once `/` answers, replying with a word the test can tell apart (the pod's name, or the app's).
 */
import type { Deployment } from '../../../schemas';
import { applyDefaults } from '../../../schemas';

export interface HttpdContainerOptions {
  /** The container's name (default `httpd`). */
  name?: string;
  /** What `/` answers, a shell word: `"$POD_NAME"` (the default) is the pod's name. */
  reply?: string;
  /** Also answered with `reply` under these directories (`api` serves `/api/`). */
  paths?: string[];
  /** A VERSION variable: a new one changes the template, which rolls a Deployment out. */
  version?: string;
  /** Ready on an HTTP GET of `/` (the default) or on a TCP connect. */
  probe?: 'http' | 'tcp';
  /** Declares the `http` container port (default true). */
  port?: boolean;
}

export function httpdContainer(o: HttpdContainerOptions = {}): Record<string, unknown> {
  const reply = o.reply ?? '"$POD_NAME"';
  const byName = reply.includes('$POD_NAME');
  const env = [
    ...(byName ? [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] : []),
    ...(o.version !== undefined ? [{ name: 'VERSION', value: o.version }] : []),
  ];
  const paths = o.paths ?? [];
  const root = paths.length > 0 ? '/tmp/w' : '/tmp';
  const files = [
    ...(paths.length > 0 ? [`mkdir -p ${paths.map((p) => `${root}/${p}`).join(' ')}`] : []),
    `echo ${reply} > ${root}/index.html`,
    ...paths.map((p) => `echo ${reply} > ${root}/${p}/index.html`),
  ];
  return {
    name: o.name ?? 'httpd',
    image: 'ferry.local/busybox:1',
    command: ['sh', '-c', `${files.join(' && ')} && exec httpd -f -p 8080 -h ${root}`],
    ...(env.length > 0 ? { env } : {}),
    ...(o.port === false ? {} : { ports: [{ name: 'http', containerPort: 8080 }] }),
    readinessProbe:
      o.probe === 'tcp'
        ? { tcpSocket: { port: 8080 }, periodSeconds: 1 }
        : { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
  };
}

export interface HttpdDeploymentOptions extends HttpdContainerOptions {
  namespace?: string;
  replicas?: number;
  /** terminationGracePeriodSeconds (default 1). */
  grace?: number;
  /** maxSurge 1, maxUnavailable 0: a rollout never takes a ready pod away first. */
  surge?: boolean;
}

/** A Deployment `app` (pods labelled `app: <app>`) of one httpd container, with the defaults filled in. */
export function httpdDeployment(app: string, o: HttpdDeploymentOptions = {}): Deployment {
  return applyDefaults({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: app, namespace: o.namespace ?? 'default' },
    spec: {
      replicas: o.replicas ?? 1,
      selector: { matchLabels: { app } },
      ...(o.surge ? { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } } : {}),
      template: {
        metadata: { labels: { app } },
        spec: { terminationGracePeriodSeconds: o.grace ?? 1, containers: [httpdContainer(o)] },
      },
    },
  } as unknown as Deployment);
}
