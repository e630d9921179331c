/**
 * What a command runs with. `run()` receives the process's streams and environment from
 * `main.ts`, and tests pass their own, so every command runs in-process and never touches
 * `process` directly (except `ferry server`, which listens for SIGINT/SIGTERM when no signal is given).
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { CliError } from './errors';

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
  /** The user's terminal, when stdin is one (`ferry exec -t`): raw mode and its size. */
  terminal?: Terminal;
}

export interface Terminal {
  setRaw(on: boolean): void;
  size(): { width: number; height: number };
  /** Calls `listener` when the terminal is resized; returns the unsubscribe. */
  onResize(listener: () => void): () => void;
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

/** Waits `ms` between polls; Ctrl-C (the run's signal) ends the command with exit 130. */
export async function pause(ctx: CliContext, ms: number): Promise<void> {
  try {
    await sleep(ms, undefined, ctx.io.signal ? { signal: ctx.io.signal } : {});
  } catch {
    throw new CliError('interrupted', 130);
  }
}
