/**
 * `ferry ui` (alias `dashboard`): prints the URL of the cluster page the server serves at `/ui/`,
 * and how to get a token for it. It prints no token: the page asks for one and keeps it in the
 * browser tab only, so the admin token in the CLI config never has to go into a browser.
 */
import type { Command } from 'commander';
import { resolveConfig } from '../config';
import { type CliContext, out } from '../context';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('ui')
    .alias('dashboard')
    .description("print the URL of the server's cluster page (nodes, workloads, pods, events, live)")
    .action(async () => {
      const { server } = await resolveConfig(ctx.io.env);
      out(ctx, `${server}/ui/`);
      out(ctx, 'paste a token there; a reader token is enough: ferry token create --role reader --ttl 8h');
    });
}
