/**
 * `ferry scale deployment/web --replicas 5 [--current-replicas 3]`: writes the scale subresource
 * (Deployments and ReplicaSets). With --current-replicas the write is conditional on both the
 * replica count and the resourceVersion that was read, so two racing CI jobs cannot both win.
 */
import type { Command } from 'commander';
import { connect } from '../client';
import { type CliContext, out } from '../context';
import { CliError, UsageError } from '../errors';
import { DEFAULT_NAMESPACE, objectPath, parseTarget, resourceName } from '../resources';

interface ScaleOptions {
  replicas: string;
  currentReplicas?: string;
  namespace?: string;
}

interface Scale {
  metadata: { resourceVersion?: string };
  spec: { replicas: number };
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('scale')
    .description('set the replica count of a Deployment or ReplicaSet')
    .argument('<target...>', 'TYPE/NAME or TYPE NAME, e.g. deployment/web')
    .requiredOption('--replicas <n>', 'the new number of replicas')
    .option('--current-replicas <n>', 'only scale if the current count is this (precondition)')
    .option('-n, --namespace <ns>', 'namespace')
    .action(async (target: string[], opts: ScaleOptions) => {
      const { info, name } = parseTarget(target, ['Deployment', 'ReplicaSet']);
      const replicas = count(opts.replicas, '--replicas');
      const current =
        opts.currentReplicas === undefined ? undefined : count(opts.currentReplicas, '--current-replicas');
      const client = await connect(ctx.io.env);
      const path = `${objectPath(info, opts.namespace ?? DEFAULT_NAMESPACE, name)}/scale`;
      const body: Scale = { metadata: {}, spec: { replicas } };
      if (current !== undefined) {
        const now = await client.request<Scale>('GET', path);
        if (now.spec.replicas !== current) {
          throw new CliError(
            `expected ${current} replicas of ${resourceName(info)}/${name}, found ${now.spec.replicas}; nothing changed`,
          );
        }
        if (now.metadata.resourceVersion) body.metadata.resourceVersion = now.metadata.resourceVersion;
      }
      await client.request('PATCH', path, { body, contentType: 'application/merge-patch+json' });
      out(ctx, `${resourceName(info)}/${name} scaled`);
    });
}

function count(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n))
    throw new UsageError(`${flag} must be a whole number >= 0 (got "${text}")`);
  return n;
}
