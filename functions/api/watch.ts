/**
 * `GET <collection>?watch=true`: Kubernetes' watch, a stream of `{"type","object"}` lines
 * (ADDED, MODIFIED, DELETED) for the objects a list with the same namespace, `labelSelector` and
 * `fieldSelector` would return; what `kubectl get -w`, `kubectl rollout status` and informers use.
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
 *
 * Without `resourceVersion` (or with "0") the stream starts with an ADDED event per current object.
 * With the resourceVersion of a list, it starts with a MODIFIED event for each object changed
 * since: the store keeps no history, so a deletion between that list and the watch is not
 * replayed (a client sees it at its next list; informers relist on every reconnect anyway). Ends
 * after `timeoutSeconds` (default and at most 30 minutes) or when the client goes away.
 *
 * Events come from the store's in-process change feed, so only a runtime that serves every write
 * from one process (the local server) can watch; elsewhere (Lambda) a watch is refused with 400.
 */
import type { KindInfo } from '../../schemas';
import { BadRequestError } from '../errors';
import { compileLabelSelector } from '../store/selector';
import type { ChangeEvent, Obj } from '../store/types';
import { listObjects, matchesFields, parseFieldSelector } from './list';
import type { ApiDeps, ApiRequest, ApiResponse } from './types';

export const MAX_WATCH_SECONDS = 30 * 60;

export function isWatch(query: URLSearchParams): boolean {
  const v = query.get('watch');
  return v === 'true' || v === '1';
}

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
  const since = query.get('resourceVersion');
  if (since !== null && since !== '' && !/^\d+$/.test(since))
    throw new BadRequestError(
      `resourceVersion: must be a resource version from a list, got ${JSON.stringify(since.slice(0, 40))}`,
    );
  const matches = (o: Obj) =>
    o.kind === info.kind &&
    (namespace === undefined || o.metadata.namespace === namespace) &&
    labels(o.metadata.labels) &&
    matchesFields(o, fields);

  // Subscribe before listing, so nothing written in between is missed; replay what came after the list.
  const queued: ChangeEvent[] = [];
  let sink: ((ev: ChangeEvent) => void) | undefined;
  const unwatch = deps.store.watch((ev) => {
    if (!matches(ev.object)) return;
    if (sink) sink(ev);
    else queued.push(ev);
  });
  let list: { items: Obj[]; metadata: { resourceVersion: string } };
  try {
    const listQuery = new URLSearchParams(query);
    for (const k of ['watch', 'resourceVersion', 'timeoutSeconds', 'limit', 'continue', 'allowWatchBookmarks'])
      listQuery.delete(k);
    list = (await listObjects(deps, info, namespace, listQuery)) as unknown as typeof list;
  } catch (err) {
    unwatch();
    throw err;
  }
  const listed = BigInt(list.metadata.resourceVersion || '0');
  const from = since && since !== '0' ? BigInt(since) : undefined;

  return {
    status: 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-cache' },
    body: '',
    stream: (write, signal) =>
      new Promise<void>((resolve) => {
        const line = (type: string, object: Obj) => write(`${JSON.stringify({ type, object: present(object) })}\n`);
        for (const o of list.items) {
          if (from === undefined) line('ADDED', o);
          else if (BigInt(o.metadata.resourceVersion ?? '0') > from) line('MODIFIED', o);
        }
        for (const ev of queued)
          if (BigInt(ev.object.metadata.resourceVersion ?? '0') > listed) line(ev.type, ev.object);
        queued.length = 0;
        sink = (ev) => line(ev.type, ev.object);
        const finish = () => {
          clearTimeout(timer);
          unwatch();
          signal.removeEventListener('abort', finish);
          resolve();
        };
        const timer = setTimeout(finish, timeout * 1000);
        signal.addEventListener('abort', finish, { once: true });
        if (signal.aborted) finish();
      }),
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
