/**
 * `ferry top pods [-n NS | -A] [-l SELECTOR] [--containers]` and `ferry top nodes [-l SELECTOR]`:
 * CPU and memory use from the resource metrics API (metrics.k8s.io), printed as `kubectl top`
 * does: CPU in millicores, memory in Mi, a node's share of its allocatable in %. A first look may
 * take a sync or two: nodes report usage only once asked (functions/node-usage.ts).
 */
import type { Command } from 'commander';
import { parseQuantity } from '../../schemas';
import { connect } from '../client';
import { type CliContext, out } from '../context';
import { CliError } from '../errors';
import { renderTable } from '../output/table';
import { DEFAULT_NAMESPACE } from '../resources';

const METRICS = '/apis/metrics.k8s.io/v1beta1';

interface Usage {
  cpu: string;
  memory: string;
}
interface PodMetrics {
  metadata: { name: string; namespace: string };
  containers: { name: string; usage: Usage }[];
}
interface NodeMetrics {
  metadata: { name: string };
  usage: Usage;
}
interface NodeList {
  items: { metadata: { name: string }; status?: { allocatable?: Record<string, string> } }[];
}

/** kubectl's cells: millicores rounded up, whole Mi. */
const millicores = (q: string) => Math.ceil(parseQuantity(q) * 1000 - 1e-6);
const mebibytes = (q: string) => Math.floor(parseQuantity(q) / 2 ** 20);
const sum = (usages: Usage[], of: (u: Usage) => number) => usages.reduce((s, u) => s + of(u), 0);

interface PodOptions {
  namespace?: string;
  allNamespaces?: boolean;
  selector?: string;
  containers?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  const top = program.command('top').description('show CPU and memory use of pods or nodes (metrics.k8s.io)');
  top
    .command('pods')
    .alias('pod')
    .description('CPU and memory use of pods')
    .option('-n, --namespace <ns>', 'namespace')
    .option('-A, --all-namespaces', 'pods of every namespace')
    .option('-l, --selector <selector>', 'label selector')
    .option('--containers', 'one line per container')
    .action(async (opts: PodOptions) => {
      const client = await connect(ctx.io.env);
      const path = opts.allNamespaces
        ? `${METRICS}/pods`
        : `${METRICS}/namespaces/${encodeURIComponent(opts.namespace ?? DEFAULT_NAMESPACE)}/pods`;
      const query = opts.selector ? `?labelSelector=${encodeURIComponent(opts.selector)}` : '';
      const list = await client.request<{ items: PodMetrics[] }>('GET', path + query);
      if (list.items.length === 0) throw new CliError('metrics not available yet (no running pods reported usage)');
      const all = opts.allNamespaces;
      const headers = [
        ...(all ? ['NAMESPACE'] : []),
        'NAME',
        ...(opts.containers ? ['CONTAINER'] : []),
        'CPU(cores)',
        'MEMORY(bytes)',
      ];
      const rows = list.items.flatMap((p) => {
        const lead = [...(all ? [p.metadata.namespace] : []), p.metadata.name];
        if (opts.containers)
          return p.containers.map((c) => [
            ...lead,
            c.name,
            `${millicores(c.usage.cpu)}m`,
            `${mebibytes(c.usage.memory)}Mi`,
          ]);
        const usages = p.containers.map((c) => c.usage);
        return [[...lead, `${sum(usages, (u) => millicores(u.cpu))}m`, `${sum(usages, (u) => mebibytes(u.memory))}Mi`]];
      });
      out(ctx, renderTable(headers, rows));
    });
  top
    .command('nodes')
    .alias('node')
    .description('CPU and memory use of nodes, and their share of what is allocatable')
    .option('-l, --selector <selector>', 'label selector')
    .action(async (opts: { selector?: string }) => {
      const client = await connect(ctx.io.env);
      const query = opts.selector ? `?labelSelector=${encodeURIComponent(opts.selector)}` : '';
      const [metrics, nodes] = await Promise.all([
        client.request<{ items: NodeMetrics[] }>('GET', `${METRICS}/nodes${query}`),
        client.request<NodeList>('GET', `/api/v1/nodes${query}`),
      ]);
      const byName = new Map(metrics.items.map((m) => [m.metadata.name, m]));
      const percent = (used: number, total: string | undefined) =>
        total && parseQuantity(total) > 0 ? `${Math.floor((used * 100) / parseQuantity(total))}%` : '<unknown>';
      const rows = nodes.items.map((n) => {
        const m = byName.get(n.metadata.name);
        if (!m) return [n.metadata.name, '<unknown>', '<unknown>', '<unknown>', '<unknown>'];
        const cpu = millicores(m.usage.cpu);
        const memory = parseQuantity(m.usage.memory);
        const alloc = n.status?.allocatable ?? {};
        return [
          n.metadata.name,
          `${cpu}m`,
          percent(cpu / 1000, alloc.cpu),
          `${mebibytes(m.usage.memory)}Mi`,
          percent(memory, alloc.memory),
        ];
      });
      out(ctx, renderTable(['NAME', 'CPU(cores)', 'CPU%', 'MEMORY(bytes)', 'MEMORY%'], rows));
    });
}
