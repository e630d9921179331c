/**
 * `ferry delete -f FILE|DIR|- [-R]` or `ferry delete KIND NAME... [-n NS]`. Deletes what exists,
 * reports each missing object as an error line and exits 1 if any was missing (kubectl does the
 * same), unless --ignore-not-found.
 */
import type { Command } from 'commander';
import { kindByName } from '../../schemas';
import { connect } from '../client';
import { type CliContext, err, out } from '../context';
import { ApiError, CliError, UsageError } from '../errors';
import { readManifests } from '../manifests';
import { DEFAULT_NAMESPACE, type KindInfo, objectPath, resolveKind, resourceName } from '../resources';

interface DeleteOptions {
  filename?: string[];
  recursive?: boolean;
  namespace?: string;
  ignoreNotFound?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function register(program: Command, ctx: CliContext): void {
  program
    .command('delete')
    .description('delete objects named by manifests or by kind and name')
    .argument('[kind]', 'kind, plural or short name')
    .argument('[names...]', 'object names')
    .option('-f, --filename <path>', 'a file, a directory or - (repeatable)', collect)
    .option('-R, --recursive', 'also read subdirectories of a directory')
    .option('-n, --namespace <ns>', 'namespace')
    .option('--ignore-not-found', 'treat a missing object as deleted')
    .action(async (kindArg: string | undefined, names: string[], opts: DeleteOptions) => {
      const targets: { info: KindInfo; namespace: string | undefined; name: string }[] = [];
      if (opts.filename?.length) {
        if (kindArg) throw new UsageError('use either -f or KIND NAME, not both');
        for (const { object, source } of await readManifests(ctx.io, opts.filename, opts.recursive ?? false)) {
          const info = kindByName(object.kind);
          if (!info) throw new CliError(`${source}: the server doesn't have a resource type "${object.kind}"`);
          targets.push({ info, namespace: object.metadata.namespace ?? opts.namespace, name: object.metadata.name });
        }
      } else {
        if (!kindArg || names.length === 0) throw new UsageError('delete needs -f FILE, or KIND and at least one NAME');
        const info = resolveKind(kindArg);
        for (const name of names) targets.push({ info, namespace: opts.namespace, name });
      }
      const client = await connect(ctx.io.env);
      for (const t of targets) {
        const ns = t.info.namespaced ? (t.namespace ?? DEFAULT_NAMESPACE) : undefined;
        try {
          await client.request('DELETE', objectPath(t.info, ns, t.name));
          out(ctx, `${resourceName(t.info)} "${t.name}" deleted`);
        } catch (e) {
          if (!(e instanceof ApiError) || e.httpStatus !== 404) throw e;
          if (opts.ignoreNotFound) continue;
          err(ctx, `error: ${resourceName(t.info)} "${t.name}" not found`);
          ctx.exitCode = 1;
        }
      }
    });
}
