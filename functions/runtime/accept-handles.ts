/**
 * More connections accepted per event-loop turn. Node 20's libuv (1.45 on, libuv PR #3696)
 * accepts one connection per listening handle per turn of the loop, so a server whose turns are
 * long (thousands of syncs answered per second, SQLite answering synchronously) accepts tens of
 * connections a second while a fleet of agents opening theirs (a restart, a burst of new nodes)
 * needs hundreds: the kernel's accept queue fills, SYNs are dropped and resent after 1, 3, 7 s.
 *
 * Each extra handle here is a duplicate file descriptor of the same listening socket (one kernel
 * accept queue), watched by the loop on its own: K handles accept up to K connections a turn.
 * Node has no dup(2), so the socket is passed through a short-lived helper process over IPC and
 * back (each pass duplicates the descriptor, as cluster's workers get theirs); the helper only
 * holds the raw handle, never listens, and exits once it has sent the copies. Every copy hands
 * its sockets to the HTTP server, as if its own handle had accepted them.
 */
import { spawn } from 'node:child_process';
import { Server, type Socket } from 'node:net';
import type { Logger } from '../log';

/** Sends the handle it is given back `copies` times, then leaves. Plain JS: run by `node -e`. */
const HELPER = `process.on('message', (m, h) => {
  let left = m.copies;
  const next = () => (left-- > 0 ? process.send('copy', h, next) : process.disconnect());
  next();
});`;

export interface AcceptHandles {
  /** Stops the copies accepting (and the helper, if it is still at work). */
  close(): void;
  /** Resolves with how many copies were added (0 if the helper failed). */
  ready: Promise<number>;
}

/**
 * Adds `copies` handles to `listening`'s socket; each accepted socket goes to `onSocket`. The
 * server serves on its own handle meanwhile: the copies join when they arrive (about 0.1 s).
 * `backlog` is passed again because listen(2) on a copy sets the shared queue's length.
 */
export function addAcceptHandles(
  listening: Server,
  copies: number,
  backlog: number,
  onSocket: (socket: Socket) => void,
  log: Logger,
): AcceptHandles {
  const handle = (listening as unknown as { _handle?: object })._handle;
  if (copies <= 0 || !handle) return { close() {}, ready: Promise.resolve(0) };
  const servers: Server[] = [];
  let closed = false;
  const helper = spawn(process.execPath, ['-e', HELPER], {
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: {},
  });
  const ready = new Promise<number>((resolve) => {
    const timer = setTimeout(() => helper.kill(), 5_000);
    helper.on('message', (_m: unknown, copy: unknown) => {
      if (!copy) return;
      const server = new Server();
      server.on('connection', onSocket);
      server.on('error', (err) => log.warn('an extra accept handle failed', { error: String(err) }));
      // A raw handle (Node's TCP wrap) is listened on as it is, the way cluster workers do.
      server.listen(copy as Parameters<Server['listen']>[0], backlog);
      if (closed) server.close();
      else servers.push(server);
    });
    const done = () => {
      clearTimeout(timer);
      resolve(servers.length);
    };
    helper.on('exit', done);
    helper.on('error', (err) => {
      log.warn('extra accept handles not made: one handle accepts', { error: String(err) });
      done();
    });
    helper.send({ copies }, handle as Parameters<typeof helper.send>[1]);
  });
  return {
    ready,
    close() {
      closed = true;
      if (helper.exitCode === null) helper.kill();
      for (const s of servers.splice(0)) s.close();
    },
  };
}
