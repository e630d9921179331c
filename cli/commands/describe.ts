/** `ferry describe KIND NAME [-n NS]`: key fields of one object, then the Events about it. */
import type { Command } from 'commander';
import type { Loose } from '../../schemas/printers/fields';
import { type ApiClient, connect } from '../client';
import { type CliContext, out } from '../context';
import { describeObject } from '../output/describe';
import { collectionPath, DEFAULT_NAMESPACE, objectPath, resolveKind } from '../resources';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('describe')
    .description('show one object in detail, with its events')
    .argument('<kind>', 'kind, plural or short name')
    .argument('<name>', 'object name')
    .option('-n, --namespace <ns>', 'namespace')
    .action(async (kindArg: string, name: string, opts: { namespace?: string }) => {
      const info = resolveKind(kindArg);
      const client = await connect(ctx.io.env);
      const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
      const obj = await client.request<Loose>('GET', objectPath(info, namespace, name));
      const events = await eventsFor(client, obj, info.namespaced ? namespace : DEFAULT_NAMESPACE);
      out(ctx, describeObject(info.kind, obj, events));
    });
}

/**
 * Events live in the object's namespace (cluster-scoped objects: `default`, as recordEvent puts
 * them). Matched on uid so a deleted-and-recreated object does not inherit old events.
 */
async function eventsFor(client: ApiClient, obj: Loose, namespace: string): Promise<Loose[]> {
  const meta = obj.metadata as { uid?: string; name?: string } | undefined;
  const list = await client.request<{ items?: Loose[] }>('GET', collectionPath(resolveKind('Event'), namespace));
  return (list.items ?? []).filter((e) => {
    const involved = e.involvedObject as { uid?: string; kind?: string; name?: string } | undefined;
    if (!involved) return false;
    if (involved.uid && meta?.uid) return involved.uid === meta.uid;
    return involved.kind === obj.kind && involved.name === meta?.name;
  });
}
