/**
 * The DNS part of `npm run bench -- proxy`: lookups per second and their p99 from inside a pod,
 * through the C library as applications resolve (ferry.local/dns-client:1 runs getaddrinfo loops,
 * `LOOKUP_CONCURRENCY` at a time: libuv's four resolver threads), against a baseline in the same
 * run and the same pod: `localhost`, which glibc answers from /etc/hosts without a packet
 * (nsswitch `files` first), so the difference is what the node DNS server costs. Names:
 *   files       `localhost` (no DNS at all)
 *   short name  `<svc>` (ndots:5: the first search candidate, `<svc>.<ns>.svc.cluster.local`, hits)
 *   FQDN        `<svc>.<ns>.svc.cluster.local.` (absolute: one query, no search)
 * Bounded: each run at most `LOOKUPS` lookups and 60 s (the client enforces both).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { TestCluster } from '../../test/e2e/helpers/cluster';
import type { Row } from '../report';

const LOOKUPS = 10_000;
const LOOKUP_CONCURRENCY = 4;
const ROUNDS = 3;

interface BenchAnswer {
  lookups: number;
  failed: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** Starts a client pod on `node`, measures, and returns rows and summary entries for the report. */
export async function dnsLoad(
  c: TestCluster,
  opts: { service: string; namespace: string; node: string },
): Promise<{ rows: Row[]; summary: Record<string, number> }> {
  execFileSync('bash', [join(import.meta.dirname, '../../scripts/build-dns-client-image.sh')], { stdio: 'ignore' });
  await c.post(`/api/v1/namespaces/${opts.namespace}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'dns-bench-client', namespace: opts.namespace },
    spec: {
      nodeSelector: { 'kubernetes.io/hostname': opts.node },
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'client',
          image: 'ferry.local/dns-client:1',
          imagePullPolicy: 'Never',
          readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
        },
      ],
    },
  });
  await c.waitFor(async () => (await c.readyPods('dns-bench-client')).length === 1, 60_000, 'the DNS bench client');
  const ip = (await c.readyPods('dns-bench-client'))[0]?.status?.podIP as string;
  const fqdn = `${opts.service}.${opts.namespace}.svc.cluster.local`;
  const run = async (name: string, n: number): Promise<BenchAnswer> => {
    const res = await fetch(`http://${ip}:8080/bench?name=${encodeURIComponent(name)}&n=${n}&c=${LOOKUP_CONCURRENCY}`, {
      signal: AbortSignal.timeout(90_000),
    });
    return (await res.json()) as BenchAnswer;
  };
  await c.waitFor(async () => (await run(fqdn, 1)).failed === 0, 30_000, `${fqdn} to resolve in the pod`, 500);
  const names = [
    ['files', 'localhost'],
    ['short name', opts.service],
    ['FQDN', `${fqdn}.`],
  ] as const;
  for (const [, name] of names) await run(name, 500);
  const rows: Row[] = [];
  const mean = Object.fromEntries(names.map(([k]) => [k, { rate: 0, p99: 0, failed: 0 }])) as Record<
    (typeof names)[number][0],
    { rate: number; p99: number; failed: number }
  >;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [kind, name] of names) {
      const r = await run(name, LOOKUPS);
      mean[kind].rate += r.perSecond / ROUNDS;
      mean[kind].p99 += r.p99Ms / ROUNDS;
      mean[kind].failed += r.failed;
      rows.push({
        round,
        path: `dns ${kind}`,
        target: name,
        'req/s': r.perSecond,
        'p99 ms': r.p99Ms,
        errors: r.failed,
      });
    }
  }
  return {
    rows,
    summary: {
      'dns lookups/s short name (mean)': mean['short name'].rate,
      'dns lookups/s FQDN (mean)': mean.FQDN.rate,
      'dns lookups/s files baseline (mean)': mean.files.rate,
      'dns p99 ms short name': mean['short name'].p99,
      'dns p99 ms FQDN': mean.FQDN.p99,
      'dns p99 ms files baseline': mean.files.p99,
      'dns failed lookups': mean['short name'].failed + mean.FQDN.failed,
      'dns lookup concurrency': LOOKUP_CONCURRENCY,
    },
  };
}
