/** `ferry version`: the CLI's version and, unless --client, the server's (from /version, no token needed). */
import type { Command } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { ApiClient } from '../client';
import { resolveConfig } from '../config';
import { type CliContext, out } from '../context';

export const CLI_VERSION: string = pkg.version;

export function register(program: Command, ctx: CliContext): void {
  program
    .command('version')
    .description('print the client and server versions')
    .option('--client', 'only the client version')
    .action(async (opts: { client?: boolean }) => {
      out(ctx, `Client Version: ${CLI_VERSION}`);
      if (opts.client) return;
      const client = new ApiClient(await resolveConfig(ctx.io.env));
      const info = await client.request<Record<string, unknown>>('GET', '/version', { anonymous: true });
      const version = info.gitVersion ?? info.version ?? JSON.stringify(info);
      out(ctx, `Server Version: ${String(version)}`);
    });
}
