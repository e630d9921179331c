/**
 * `ferry token create|list|revoke`: API tokens (POST/GET/DELETE /apis/ferry.dev/v1/tokens).
 * `create` prints the secret once, alone on stdout, so `FERRY_TOKEN=$(ferry token create ...)`
 * works; what was created goes to stderr. The server never shows the secret again.
 */
import type { Command } from 'commander';
import { age } from '../../schemas/printers/age';
import { arr, at, type Loose, str } from '../../schemas/printers/fields';
import { connect } from '../client';
import { type CliContext, err, out } from '../context';
import { parseDurationSeconds } from '../duration';
import { UsageError } from '../errors';
import { renderTable } from '../output/table';

const TOKENS = '/apis/ferry.dev/v1/tokens';
// The server validates the role; this list is for --help only.
const ROLES = ['admin', 'deployer', 'reader', 'bootstrap', 'node'];

interface CreateOptions {
  role: string;
  namespace?: string[];
  ttl?: string;
  description?: string;
  name?: string;
  maxUses?: string;
  node?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function register(program: Command, ctx: CliContext): void {
  const token = program.command('token').description('create, list and revoke API tokens');

  token
    .command('create')
    .description('create a token and print it (shown only this once)')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--namespace <ns>', 'a namespace a deployer may write (repeatable)', collect)
    .option('--ttl <duration>', 'lifetime, e.g. 1h, 30m, 7d (default: no expiry)')
    .option('--description <text>', 'what the token is for')
    .option('--name <name>', 'token name (default: generated)')
    .option('--max-uses <n>', 'bootstrap: how many nodes it may register (default 1; more for a fleet)')
    .option('--node <name>', 'bootstrap: the only node name it may register')
    .action(async (opts: CreateOptions) => {
      const maxUses = opts.maxUses === undefined ? undefined : Number(opts.maxUses);
      if (maxUses !== undefined && !(Number.isInteger(maxUses) && maxUses >= 1)) {
        throw new UsageError(`--max-uses "${opts.maxUses}" is not a whole number of at least 1`);
      }
      const ttlSeconds = opts.ttl === undefined ? undefined : parseDurationSeconds(opts.ttl);
      if (opts.ttl !== undefined && ttlSeconds === undefined) {
        throw new UsageError(`--ttl "${opts.ttl}" is not a duration such as 90s, 30m, 1h or 7d`);
      }
      const client = await connect(ctx.io.env);
      const created = await client.request<Loose>('POST', TOKENS, {
        body: {
          apiVersion: 'ferry.dev/v1',
          kind: 'Token',
          metadata: opts.name ? { name: opts.name } : {},
          spec: {
            role: opts.role,
            ...(opts.namespace?.length ? { namespaces: opts.namespace } : {}),
            ...(opts.description ? { description: opts.description } : {}),
            ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
            ...(maxUses !== undefined ? { maxUses } : {}),
            ...(opts.node ? { nodeName: opts.node } : {}),
          },
        },
      });
      const secret = str(created, 'status.token');
      const scope = opts.namespace?.length ? ` for namespaces ${opts.namespace.join(', ')}` : '';
      const expires = expiry(created);
      err(
        ctx,
        `token "${str(created, 'metadata.name')}" created (role ${opts.role}${scope}${expires ? `, expires ${expires}` : ''}); it is shown only once:`,
      );
      out(ctx, secret);
    });

  token
    .command('list')
    .description('list tokens (never their secrets)')
    .action(async () => {
      const client = await connect(ctx.io.env);
      const list = await client.request<Loose>('GET', TOKENS);
      const items = arr(list, 'items');
      if (items.length === 0) {
        err(ctx, 'No tokens found.');
        return;
      }
      const now = Date.now();
      const rows = items.map((t) => {
        const namespaces = at(t, 'spec.namespaces');
        return [
          str(t, 'metadata.name'),
          str(t, 'spec.role'),
          Array.isArray(namespaces) && namespaces.length ? namespaces.join(',') : '<all>',
          expiry(t) ?? '<never>',
          age(at(t, 'metadata.creationTimestamp'), now),
          str(t, 'spec.description'),
        ];
      });
      out(ctx, renderTable(['NAME', 'ROLE', 'NAMESPACES', 'EXPIRES', 'AGE', 'DESCRIPTION'], rows));
    });

  token
    .command('revoke')
    .description('revoke a token by name')
    .argument('<name>', 'token name (from `ferry token list`)')
    .action(async (name: string) => {
      const client = await connect(ctx.io.env);
      await client.request('DELETE', `${TOKENS}/${encodeURIComponent(name)}`);
      out(ctx, `token "${name}" revoked`);
    });
}

function expiry(token: Loose): string | undefined {
  const v =
    at(token, 'status.expirationTimestamp') ?? at(token, 'spec.expirationTimestamp') ?? at(token, 'status.expiresAt');
  return typeof v === 'string' ? v : undefined;
}
