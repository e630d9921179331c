/**
 * The `ferry` command. `run()` parses argv with commander and returns an exit code instead of
 * exiting, so tests run the CLI in-process with their own streams and environment.
 * Each command family registers itself from one file in `commands/`; adding `scale`, `rollout`,
 * `cordon`, `logs`, ... is one new file plus one line in COMMANDS.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import * as apply from './commands/apply';
import * as del from './commands/delete';
import * as describe from './commands/describe';
import * as exec from './commands/exec';
import * as get from './commands/get';
import * as logs from './commands/logs';
import * as node from './commands/node';
import * as rollout from './commands/rollout';
import * as scale from './commands/scale';
import * as server from './commands/server';
import * as token from './commands/token';
import * as top from './commands/top';
import * as ui from './commands/ui';
import * as up from './commands/up';
import * as version from './commands/version';
import type { CliContext, CliIo, Terminal } from './context';
import { CliError } from './errors';

export type { CliIo } from './context';

const COMMANDS: { register(program: Command, ctx: CliContext): void }[] = [
  up,
  server,
  apply,
  get,
  describe,
  del,
  logs,
  exec,
  scale,
  top,
  rollout,
  node,
  token,
  ui,
  version,
];

export async function run(argv: string[], io: CliIo): Promise<number> {
  const ctx: CliContext = { io, exitCode: 0 };
  const program = new Command('ferry')
    .description('ferry: a serverless container orchestrator with the Kubernetes resource model')
    .version(version.CLI_VERSION, '--version', 'print the client version')
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });
  for (const c of COMMANDS) c.register(program, ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode;
  } catch (e) {
    return report(e, io);
  }
}

function report(e: unknown, io: CliIo): number {
  if (e instanceof CommanderError) {
    // commander has already printed its message (or the help/version text).
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0) return 0;
    return 2;
  }
  if (e instanceof CliError) {
    io.stderr.write(`error: ${e.message}\n`);
    for (const line of e.detailLines) io.stderr.write(`${line}\n`);
    return e.exitCode;
  }
  // Not an expected failure: a bug. Show everything.
  io.stderr.write(
    `error: unexpected failure (a bug in ferry; please report it):\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  return 70;
}

/** The process' own terminal, for `ferry exec -t`. */
function processTerminal(): Terminal {
  return {
    setRaw: (on) => process.stdin.setRawMode(on),
    size: () => ({ width: process.stdout.columns, height: process.stdout.rows }),
    onResize: (listener) => {
      process.stdout.on('resize', listener);
      return () => process.stdout.off('resize', listener);
    },
  };
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  run(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    ...(process.stdin.isTTY && process.stdout.isTTY ? { terminal: processTerminal() } : {}),
  }).then((code) => {
    process.exitCode = code;
  });
}
