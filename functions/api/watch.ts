/**
 * `GET <collection>?watch=true`: Kubernetes' watch, a stream of `{"type","object"}` lines
 * (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR) for the objects a list with the same namespace,
 * `labelSelector` and `fieldSelector` would return; what `kubectl get -w`, `kubectl rollout
 * status` and informers use.
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
 *
 * - `resourceVersion` unset or "0": an ADDED event per current object, then every change.
 * - `resourceVersion` from a list or an event: every change after it, deletions included, from
 *   the store's recent history (functions/store/watch-cache.ts). Older than that history: the
 *   stream's one event is an ERROR carrying a `410 Expired` Status, and the client lists again.
 *   Newer than anything written: an ERROR with `504 Timeout` (ResourceVersionTooLarge).
 * - `allowWatchBookmarks=true`: a BOOKMARK (just a resourceVersion to resume from) every minute.
 * - `sendInitialEvents=true` with `resourceVersionMatch=NotOlderThan` (the streaming list): the
 *   ADDED events, then a BOOKMARK annotated `k8s.io/initial-events-end`.
 * Ends after `timeoutSeconds` (default and at most 30 minutes) or when the client goes away.
 *
 * With a selector, an object that stops matching is sent as DELETED (as it was, at the new
 * resourceVersion) and one that starts matching as ADDED, as the API server does, when the
 * history holds the object's previous version (else the event is filtered on the object as
 * written).
 *
 * Events come from the store's in-process change feed, so only a runtime that serves every write
 * from one process (the local server) can watch; elsewhere (Lambda) a watch is refused with 400.
 */
import type { KindInfo } from '../../schemas';
import { BadRequestError, InvalidError } from '../errors';
import { compileLabelSelector } from '../store/selector';
import type { ChangeEvent, Obj } from '../store/types';
import { type CachedEvent, watchCacheOf } from '../store/watch-cache';
import { listObjects, matchesFields, parseFieldSelector } from './list';
import type { ApiDeps, ApiRequest, ApiResponse } from './types';

export const MAX_WATCH_SECONDS = 30 * 60;
export const BOOKMARK_MS = 60_000;

export function isWatch(query: URLSearchParams): boolean {
  const v = query.get('watch');
  return v === 'true' || v === '1';
}

type Line = (type: string, object: Obj | Record<string, unknown>) => void;

export async function watchObjects(
  deps: ApiDeps,
  info: KindInfo,
  namespace: string | undefined,
  req: ApiRequest,
  /** What each event carries instead of the object (a one-row Table for `kubectl get -w`). */
  present: (o: Obj) => Obj = (o) => o,
): Promise<ApiResponse> {
  if (!deps.config.watch)
    throw new BadRequestError('watch is not supported by this deployment of ferry (no change feed): list instead');
  const query = req.query;
  const fields = parseFieldSelector(info.kind, query.get('fieldSelector'));
  const labels = compileLabelSelector(query.get('labelSelector') ?? undefined);
  const timeout = timeoutOf(query.get('timeoutSeconds'));
  const opts = watchOptions(query);
  const matches = (o: Obj) =>
    (namespace === undefined || o.metadata.namespace === namespace) &&
    labels(o.metadata.labels) &&
    matchesFields(o, fields);

  const cache = watchCacheOf(deps.store);
  const queued: ChangeEvent[] = [];
  let sink: ((ev: ChangeEvent) => void) | undefined;
  const deliver = (cached: CachedEvent) => {
    const ev = asSeen(cached, matches);
    if (!ev) return;
    if (sink) sink(ev);
    else queued.push(ev);
  };
  const bookmark = (rv: bigint | string, annotations?: Record<string, string>) => ({
    kind: info.kind,
    apiVersion: info.apiVersion,
    metadata: { resourceVersion: String(rv), ...(annotations ? { annotations } : {}) },
  });

  // Where the stream starts: what it sends first, and its subscription (made before any list, so
  // nothing written in between is missed).
  let opening: (line: Line) => void;
  let stop: () => void = () => {};
  if (opts.from !== undefined) {
    const start = await cache.watchFrom(info.kind, opts.from, deliver);
    if (!start.ok)
      return errorStream(
        start.reason === 'Expired' ? expired(opts.from, start.oldest) : tooLarge(opts.from, start.current),
      );
    stop = start.stop;
    opening = () => {
      for (const ev of start.replay) deliver(ev);
    };
  } else {
    const start = await cache.watchFrom(info.kind, cache.current, deliver);
    if (!start.ok) throw new Error(`watch cache refused its own revision (${start.reason})`);
    stop = start.stop;
    let list: { items: Obj[]; metadata: { resourceVersion: string } } = {
      items: [],
      metadata: { resourceVersion: '0' },
    };
    if (opts.initialEvents) {
      try {
        const listQuery = new URLSearchParams(query);
        for (const k of LIST_IGNORES) listQuery.delete(k);
        list = (await listObjects(deps, info, namespace, listQuery)) as unknown as typeof list;
      } catch (err) {
        stop();
        throw err;
      }
    }
    const listed = BigInt(list.metadata.resourceVersion || '0');
    for (let i = queued.length - 1; i >= 0; i--)
      if (BigInt(queued[i]?.object.metadata.resourceVersion ?? '0') <= listed) queued.splice(i, 1);
    opening = (line) => {
      for (const o of list.items) line('ADDED', o);
      if (opts.initialEventsEnd) line('BOOKMARK', bookmark(listed, { 'k8s.io/initial-events-end': 'true' }));
    };
  }

  return {
    status: 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-cache' },
    body: '',
    stream: (write, signal) =>
      new Promise<void>((resolve) => {
        const line: Line = (type, object) =>
          write(`${JSON.stringify({ type, object: type === 'BOOKMARK' ? object : present(object as Obj) })}\n`);
        sink = (ev) => line(ev.type, ev.object);
        opening(line);
        for (const ev of queued.splice(0)) sink(ev);
        const ticker = opts.bookmarks
          ? setInterval(() => line('BOOKMARK', bookmark(cache.current)), deps.config.watchBookmarkMs ?? BOOKMARK_MS)
          : undefined;
        const finish = () => {
          clearTimeout(timer);
          clearInterval(ticker);
          stop();
          signal.removeEventListener('abort', finish);
          resolve();
        };
        const timer = setTimeout(finish, timeout * 1000);
        signal.addEventListener('abort', finish, { once: true });
        if (signal.aborted) finish();
      }),
  };
}

/** The event as a watcher with this selector sees it, or undefined when it sees nothing. */
function asSeen(ev: CachedEvent, matches: (o: Obj) => boolean): ChangeEvent | undefined {
  const now = matches(ev.object);
  if (ev.type !== 'MODIFIED' || ev.prev === undefined) return now ? { type: ev.type, object: ev.object } : undefined;
  const before = matches(ev.prev);
  if (before && now) return { type: 'MODIFIED', object: ev.object };
  if (now) return { type: 'ADDED', object: ev.object };
  if (!before) return undefined;
  const gone = structuredClone(ev.prev);
  gone.metadata.resourceVersion = ev.object.metadata.resourceVersion as string;
  return { type: 'DELETED', object: gone };
}

const LIST_IGNORES = [
  'watch',
  'resourceVersion',
  'resourceVersionMatch',
  'timeoutSeconds',
  'limit',
  'continue',
  'allowWatchBookmarks',
  'sendInitialEvents',
];

interface WatchOptions {
  /** Resume after this revision (no initial events). */
  from?: bigint;
  initialEvents: boolean;
  initialEventsEnd: boolean;
  bookmarks: boolean;
}

function watchOptions(query: URLSearchParams): WatchOptions {
  const rv = query.get('resourceVersion') ?? '';
  if (rv !== '' && !/^\d{1,30}$/.test(rv))
    throw new BadRequestError(
      `resourceVersion: must be a resource version from a list, got ${JSON.stringify(rv.slice(0, 40))}`,
    );
  const bookmarks = booleanParam(query, 'allowWatchBookmarks') ?? false;
  const send = booleanParam(query, 'sendInitialEvents');
  const match = query.get('resourceVersionMatch');
  if (send === undefined) {
    if (match !== null)
      throw forbidden(
        'resourceVersionMatch',
        'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided',
      );
    return {
      ...(rv !== '' && rv !== '0' ? { from: BigInt(rv) } : {}),
      initialEvents: true,
      initialEventsEnd: false,
      bookmarks,
    };
  }
  if (match !== 'NotOlderThan')
    throw forbidden(
      'sendInitialEvents',
      'sendInitialEvents is forbidden for watch unless resourceVersionMatch is NotOlderThan',
    );
  if (send && !bookmarks)
    throw forbidden('allowWatchBookmarks', 'allowWatchBookmarks must be true when sendInitialEvents is true');
  if (send) return { initialEvents: true, initialEventsEnd: true, bookmarks };
  // sendInitialEvents=false: changes only, from the given revision or from now.
  return {
    from: rv !== '' && rv !== '0' ? BigInt(rv) : undefined,
    initialEvents: false,
    initialEventsEnd: false,
    bookmarks,
  };
}

function booleanParam(query: URLSearchParams, name: string): boolean | undefined {
  const v = query.get(name);
  if (v === null) return undefined;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new BadRequestError(`${name}: must be true or false, got ${JSON.stringify(v.slice(0, 40))}`);
}

function forbidden(field: string, message: string): InvalidError {
  return new InvalidError('ListOptions', '', [
    { field, reason: 'FieldValueForbidden', message: `Forbidden: ${message}` },
  ]);
}

function expired(from: bigint, oldest: bigint): Record<string, unknown> {
  return status(410, 'Expired', `too old resource version: ${from} (${oldest})`);
}

function tooLarge(from: bigint, current: bigint): Record<string, unknown> {
  return {
    ...status(504, 'Timeout', `Too large resource version: ${from}, current: ${current}`),
    details: {
      causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
      retryAfterSeconds: 1,
    },
  };
}

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** A watch that cannot start from where the client asked: one ERROR event, as the API server streams it. */
function errorStream(object: Record<string, unknown>): ApiResponse {
  return {
    status: 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-cache' },
    body: '',
    stream: async (write) => write(`${JSON.stringify({ type: 'ERROR', object })}\n`),
  };
}

function timeoutOf(raw: string | null): number {
  if (raw === null || raw === '') return MAX_WATCH_SECONDS;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n))
    throw new BadRequestError(
      `timeoutSeconds: must be a whole number of seconds, got ${JSON.stringify(raw.slice(0, 40))}`,
    );
  return Math.min(Math.max(n, 1), MAX_WATCH_SECONDS);
}
