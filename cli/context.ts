/**
 * What a command runs with. `run()` receives the process's streams and environment from
 * `main.ts`, and tests pass their own, so every command runs in-process and never touches
 * `process` directly (except `ferry server`, which listens for SIGINT/SIGTERM when no signal is given).
 */

export interface Writable {
  write(chunk: string): unknown;
}

export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  /** Read by `apply -f -` / `delete -f -`. */
  stdin?: AsyncIterable<string | Uint8Array>;
  env: Record<string, string | undefined>;
  /** Relative paths (`-f`, `--data-dir`) resolve against this; default process.cwd(). */
  cwd?: string;
  /** Long-running commands (`ferry server`) stop when this aborts; default SIGINT/SIGTERM. */
  signal?: AbortSignal;
}

export interface CliContext {
  io: CliIo;
  /** Set by a command that finished but failed in part (e.g. one of several deletes). */
  exitCode: number;
}

export function out(ctx: CliContext, line = ''): void {
  ctx.io.stdout.write(`${line}\n`);
}

export function err(ctx: CliContext, line: string): void {
  ctx.io.stderr.write(`${line}\n`);
}
