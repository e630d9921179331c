/**
 * `ferry get KIND[,KIND...] [NAME...] [-n NS | -A] [-o table|wide|name|yaml|json] [-l selector]`.
 * KIND is a kind, plural or short name (po, deploy, svc, no, rs, ns, ep, cm, ev).
 */
import type { Command } from 'commander';
import type { Loose } from '../../schemas/printers/fields';
import { type ApiClient, connect } from '../client';
import { type CliContext, err, out } from '../context';
import { UsageError } from '../errors';
import { type OutputFormat, parseOutputFormat, renderObjectsTable, toJson, toYaml } from '../output/print';
import { collectionPath, DEFAULT_NAMESPACE, type KindInfo, objectPath, resolveKind, resourceName } from '../resources';

interface GetOptions {
  namespace?: string;
  allNamespaces?: boolean;
  output?: string;
  selector?: string;
}

interface ListBody {
  items?: Loose[];
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('get')
    .description('list objects of a kind, or show named ones')
    .argument('<kind>', 'kind, plural or short name; several separated by commas')
    .argument('[names...]', 'object names')
    .option('-n, --namespace <ns>', 'namespace', undefined)
    .option('-A, --all-namespaces', 'list across all namespaces')
    .option('-o, --output <format>', 'table (default), wide, name, yaml or json')
    .option('-l, --selector <selector>', 'label selector, e.g. app=web,tier in (a,b)')
    .action(async (kindArg: string, names: string[], opts: GetOptions) => {
      const format = parseOutputFormat(opts.output);
      const kinds = kindArg.split(',').map((k) => resolveKind(k.trim()));
      if (names.length > 0 && (kinds.length > 1 || opts.selector)) {
        throw new UsageError(
          names.length > 0 && opts.selector
            ? 'a name cannot be combined with a label selector'
            : 'names need exactly one kind',
        );
      }
      if (opts.allNamespaces && names.length > 0)
        throw new UsageError('a name cannot be combined with --all-namespaces');
      const client = await connect(ctx.io.env);
      const namespace = opts.allNamespaces ? undefined : (opts.namespace ?? DEFAULT_NAMESPACE);
      const groups: { info: KindInfo; objects: Loose[] }[] = [];
      for (const info of kinds) {
        const objects =
          names.length > 0
            ? await Promise.all(names.map((n) => client.request<Loose>('GET', objectPath(info, namespace, n))))
            : await list(client, info, namespace, opts.selector);
        groups.push({ info, objects });
      }
      print(ctx, groups, format, {
        single: names.length === 1 && kinds.length === 1,
        namespace,
        allNamespaces: !!opts.allNamespaces,
      });
    });
}

async function list(
  client: ApiClient,
  info: KindInfo,
  namespace: string | undefined,
  selector?: string,
): Promise<Loose[]> {
  const body = await client.request<ListBody>('GET', collectionPath(info, namespace), {
    query: { labelSelector: selector },
  });
  return body.items ?? [];
}

function print(
  ctx: CliContext,
  groups: { info: KindInfo; objects: Loose[] }[],
  format: OutputFormat,
  how: { single: boolean; namespace: string | undefined; allNamespaces: boolean },
): void {
  const all = groups.flatMap((g) => g.objects.map((o) => withTypeMeta(o, g.info)));
  if (format === 'yaml' || format === 'json') {
    const value = how.single
      ? all[0]
      : { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: all };
    ctx.io.stdout.write(format === 'yaml' ? toYaml(value) : toJson(value));
    return;
  }
  if (format === 'name') {
    for (const g of groups)
      for (const o of g.objects) out(ctx, `${resourceName(g.info)}/${String((o.metadata as Loose).name)}`);
    return;
  }
  const nonEmpty = groups.filter((g) => g.objects.length > 0);
  if (nonEmpty.length === 0) {
    const namespaced = groups.some((g) => g.info.namespaced);
    err(
      ctx,
      namespaced && how.namespace !== undefined
        ? `No resources found in ${how.namespace} namespace.`
        : 'No resources found',
    );
    return;
  }
  const tables = nonEmpty.map((g) =>
    renderObjectsTable(g.info.kind, g.objects, {
      wide: format === 'wide',
      withNamespace: how.allNamespaces && g.info.namespaced,
      ...(groups.length > 1 ? { namePrefix: resourceName(g.info) } : {}),
    }),
  );
  out(ctx, tables.join('\n\n'));
}

/** List items come without apiVersion/kind in Kubernetes; put them back so `-o yaml` output re-applies. */
function withTypeMeta(obj: Loose, info: KindInfo): Loose {
  return { apiVersion: info.apiVersion, kind: info.kind, ...obj };
}
