/**
 * Preloaded (`node --import`) into the scale bench's `ferry server` only: the server's own sync
 * latency, read from Node's `http.server.request.start` / `http.server.response.finish`
 * diagnostics channels, so no server code changes. Two figures per call the client did not ask
 * to be held (its `x-ferry-sim-wait: 0` header, bench/scale/light-http.ts):
 *  - handler: from the request's headers being parsed to the end of its response;
 *  - since sent: from the client's sending it (`x-ferry-sim-sent`, the same machine's clock) to
 *    the end of the response: the handler plus the time the request waited in the kernel and for
 *    the server's event loop, which the handler figure cannot see.
 * The client's figure adds only its own reading of the answer. Appends one JSON line a second to
 * the file named by FERRY_SYNC_PROBE, with the count of held calls and of those answered more
 * than a second after their wait, and the register calls' handler times. A call cut by its
 * client has no response end and is not counted. Does nothing without the variable.
 */
import { subscribe } from 'node:diagnostics_channel';
import { appendFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface ServerProbeLine {
  at: number;
  /** Syncs not asked to be held: headers parsed to response end, ms. */
  answered: number[];
  /** The same syncs: client's send to response end, ms. */
  sinceSent: number[];
  held: number;
  /** Held syncs that ended more than a second after the wait they asked for. */
  heldLate: number;
  /** Syncs without the simulator's header (the full agent): not classified. */
  unclassified: number;
  register: number[];
}

const epochMs = () => performance.timeOrigin + performance.now();
const empty = (): ServerProbeLine => ({
  at: 0,
  answered: [],
  sinceSent: [],
  held: 0,
  heldLate: 0,
  unclassified: 0,
  register: [],
});
const ms = (n: number) => Math.round(n * 100) / 100;

const file = process.env.FERRY_SYNC_PROBE;
if (file) {
  const started = new WeakMap<
    IncomingMessage,
    { at: number; sent: number; kind: 'sync' | 'register'; waitMs: number }
  >();
  let line = empty();
  subscribe('http.server.request.start', (message) => {
    const req = (message as { request: IncomingMessage }).request;
    const kind = req.url === '/agent/v1/sync' ? 'sync' : req.url === '/agent/v1/register' ? 'register' : undefined;
    if (!kind) return;
    const wait = req.headers['x-ferry-sim-wait'];
    const sent = Number(req.headers['x-ferry-sim-sent']);
    started.set(req, {
      at: epochMs(),
      sent,
      kind,
      waitMs: typeof wait === 'string' ? Number(wait) * 1000 : -1,
    });
  });
  subscribe('http.server.response.finish', (message) => {
    const req = (message as { request: IncomingMessage }).request;
    const s = started.get(req);
    if (!s) return;
    const end = epochMs();
    if (s.kind === 'register') line.register.push(ms(end - s.at));
    else if (s.waitMs < 0) line.unclassified++;
    else if (s.waitMs === 0) {
      line.answered.push(ms(end - s.at));
      if (Number.isFinite(s.sent)) line.sinceSent.push(ms(end - s.sent));
    } else {
      line.held++;
      if (end - s.at > s.waitMs + 1000) line.heldLate++;
    }
  });
  const timer = setInterval(() => {
    line.at = Date.now();
    appendFileSync(file, `${JSON.stringify(line)}\n`);
    line = empty();
  }, 1000);
  timer.unref();
}
