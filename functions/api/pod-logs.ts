/**
 * `GET /api/v1/namespaces/{ns}/pods/{name}/log`: a container's output, as `kubectl logs` reads it
 * (text/plain; `container`, `tailLines`, `previous`, `limitBytes`). With `follow`, `timestamps`,
 * `sinceSeconds` or `sinceTime` it is streamed from the node instead (pod-logs-stream.ts: a
 * dial-back session, on servers that hold connections).
 *
 * The control plane never calls an agent (agents poll, and may sit behind NAT), so the call is
 * relayed through the store: it writes an internal `LogRequest` for the pod's node, which moves the
 * node's NodeDesired record (functions/node-desired.ts): a held sync returns at once with it, a
 * polling agent gets it at its next sync (within 20 s on Lambda); the agent answers on `/agent/v1/logs` with the tail of the output,
 * and this call returns that and deletes the request. The only store traffic is one small object
 * per call; a node that does not answer within LOG_TIMEOUT_MS gives a 504.
 */
import { randomBytes } from 'node:crypto';
import type { LogAnswer, LogRequestRef } from '../../schemas/agent-protocol';
import type { Deps } from '../deps';
import { BadRequestError, ForbiddenError, isNotFound, NotFoundError, TimeoutError } from '../errors';
import { LOG_REQUEST_KIND } from '../node-desired';
import type { Obj, ObjectRef } from '../store/types';
import type { StreamSessions } from './exec-sessions';
import { type LogStreamOptions, streamLogs } from './pod-logs-stream';
import type { ApiResponse } from './types';

export { LOG_REQUEST_KIND } from '../node-desired';
/** The most a log call returns: the tail of the output (fits a DynamoDB item once JSON-escaped). */
export const MAX_LOG_BYTES = 128 * 1024;
/** Lines when `tailLines` is not given: the agent reads no more than this from Docker. */
export const DEFAULT_TAIL_LINES = 10_000;
/** A polling node's quiet interval (20 s, api/agent/modes.ts) and a round trip, below Lambda's 29 s API timeout. */
export const LOG_TIMEOUT_MS = 25_000;
/** Requests older than this are dropped by the node's next sync (their caller has given up). */
export const LOG_REQUEST_TTL_MS = 60_000;

type PodLike = Obj & {
  spec: { nodeName?: string; containers: { name: string }[]; initContainers?: { name: string }[] };
};
/** The object's own namespace and name complete the ref the node is sent. */
type LogRequestObj = Obj & {
  spec: Omit<LogRequestRef, 'namespace' | 'name'> & { nodeName: string };
  status?: LogAnswer;
};

export async function podLogs(
  deps: Deps & { streams?: StreamSessions },
  pod: Obj,
  query: URLSearchParams,
  signal?: AbortSignal,
): Promise<ApiResponse> {
  const p = pod as PodLike;
  const names = [...(p.spec.initContainers ?? []), ...p.spec.containers].map((c) => c.name);
  const container = query.get('container') ?? (p.spec.containers.length === 1 ? p.spec.containers[0]?.name : undefined);
  if (container === undefined)
    throw new BadRequestError(
      `a container name must be specified for pod ${p.metadata.name}, choose one of: [${names.join(' ')}]`,
    );
  if (!names.includes(container))
    throw new BadRequestError(`container ${container} is not valid for pod ${p.metadata.name}`);
  const givenTail = intParam(query, 'tailLines', 0);
  const givenLimit = intParam(query, 'limitBytes', 1);
  const tailLines = givenTail ?? DEFAULT_TAIL_LINES;
  const limitBytes = Math.min(givenLimit ?? MAX_LOG_BYTES, MAX_LOG_BYTES);
  const previous = boolParam(query, 'previous');
  const streamed = streamOptions(query);
  const nodeName = p.spec.nodeName;
  if (!nodeName)
    throw new BadRequestError(
      `container "${container}" in pod "${p.metadata.name}" is waiting to start: not scheduled`,
    );
  if (streamed)
    return streamLogs(
      deps,
      deps.streams,
      { pod, nodeName, container },
      {
        ...streamed,
        ...(givenTail !== undefined ? { tailLines: givenTail } : {}),
        ...(givenLimit !== undefined ? { limitBytes: givenLimit } : {}),
        ...(previous ? { previous } : {}),
      },
      signal,
    );

  const namespace = p.metadata.namespace as string;
  const request: LogRequestObj = {
    apiVersion: 'ferry.dev/v1',
    kind: LOG_REQUEST_KIND,
    metadata: { namespace, name: `${p.metadata.name.slice(0, 200)}.${randomBytes(5).toString('hex')}` },
    spec: {
      nodeName,
      pod: { namespace, name: p.metadata.name, uid: p.metadata.uid as string },
      container,
      previous,
      tailLines,
      limitBytes,
    },
  };
  const ref: ObjectRef = { kind: LOG_REQUEST_KIND, namespace, name: request.metadata.name };
  await deps.store.create(request);
  try {
    const answer = await waitForAnswer(deps, ref, signal);
    if (!answer)
      throw new TimeoutError(
        `node "${nodeName}" did not send the logs of pod ${namespace}/${p.metadata.name} within ${LOG_TIMEOUT_MS / 1000}s: is its agent running?`,
      );
    if (answer.error !== undefined) throw new BadRequestError(answer.error);
    return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: answer.content ?? '' };
  } finally {
    await deps.store.delete(ref).catch((err) => {
      if (!isNotFound(err)) deps.log.warn('deleting a log request failed', { request: ref.name, error: String(err) });
    });
  }
}

/** Watches the request (this process's store) and polls it (a store shared with other processes). */
function waitForAnswer(deps: Deps, ref: ObjectRef, signal?: AbortSignal): Promise<LogAnswer | undefined> {
  return new Promise((resolve, reject) => {
    let finished = false;
    const finish = (answer: LogAnswer | undefined, err?: unknown) => {
      if (finished) return;
      finished = true;
      clearTimeout(timeout);
      clearInterval(poll);
      unwatch();
      signal?.removeEventListener('abort', aborted);
      if (err) reject(err);
      else resolve(answer);
    };
    const check = (obj: Obj | undefined) => {
      const status = (obj as LogRequestObj | undefined)?.status;
      if (status) finish(status);
    };
    const aborted = () => finish(undefined);
    const timeout = setTimeout(() => finish(undefined), LOG_TIMEOUT_MS);
    const poll = setInterval(() => {
      deps.store.get(ref).then(check, (err) => finish(undefined, err));
    }, 500);
    const unwatch = deps.store.watch((ev) => {
      const o = ev.object;
      if (o.kind === ref.kind && o.metadata.namespace === ref.namespace && o.metadata.name === ref.name) check(o);
    });
    signal?.addEventListener('abort', aborted, { once: true });
  });
}

/** `/agent/v1/logs`: a node's answer to a log request for one of its pods. */
export async function answerLogRequest(deps: Deps, nodeName: string, answer: LogAnswer): Promise<void> {
  const ref: ObjectRef = { kind: LOG_REQUEST_KIND, namespace: answer.namespace, name: answer.name };
  const request = (await deps.store.get(ref)) as LogRequestObj | undefined;
  if (!request)
    throw new NotFoundError(
      LOG_REQUEST_KIND,
      answer.name,
      `log request ${answer.namespace}/${answer.name} not found (its caller gave up)`,
    );
  if (request.spec.nodeName !== nodeName)
    throw new ForbiddenError(`node "${nodeName}" may not answer a log request for another node's pod`);
  const status: LogAnswer = { namespace: answer.namespace, name: answer.name };
  if (answer.error !== undefined) status.error = answer.error;
  else status.content = truncateTail(answer.content ?? '', request.spec.limitBytes);
  await deps.store.update({ ...request, status });
}

/** The node's pending log requests (dropping those older than the TTL), for its sync. */
export async function pendingLogRequests(deps: Deps, nodeName: string): Promise<LogRequestRef[]> {
  const out: LogRequestRef[] = [];
  for (const r of (await deps.store.list<LogRequestObj>(LOG_REQUEST_KIND, { nodeName })).items) {
    const age = deps.clock() - Date.parse(r.metadata.creationTimestamp ?? '');
    if (age > LOG_REQUEST_TTL_MS) {
      await deps.store
        .delete({ kind: LOG_REQUEST_KIND, namespace: r.metadata.namespace, name: r.metadata.name })
        .catch(() => undefined);
      continue;
    }
    if (r.status) continue;
    const { nodeName: _, ...spec } = r.spec;
    out.push({ namespace: r.metadata.namespace as string, name: r.metadata.name, ...spec });
  }
  return out;
}

/** The last `limit` bytes of `text`, cut at a character boundary. */
export function truncateTail(text: string, limit: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= limit) return text;
  let start = buf.length - limit;
  while (start < buf.length && ((buf[start] as number) & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString('utf8');
}

/**
 * The options only a stream honours (`-f`, `--timestamps`, `--since`, `--since-time`), checked;
 * undefined when none is given (the snapshot relay serves the request).
 */
function streamOptions(
  query: URLSearchParams,
): Pick<LogStreamOptions, 'follow' | 'timestamps' | 'sinceSeconds' | 'sinceTime'> | undefined {
  const follow = boolParam(query, 'follow');
  const timestamps = boolParam(query, 'timestamps');
  const sinceSeconds = intParam(query, 'sinceSeconds', 1);
  const sinceTime = query.get('sinceTime') ?? undefined;
  if (sinceSeconds !== undefined && sinceTime !== undefined)
    throw new BadRequestError('at most one of sinceTime or sinceSeconds may be specified');
  if (sinceTime !== undefined && !RFC3339.test(sinceTime))
    throw new BadRequestError(`sinceTime: must be an RFC 3339 time, got ${JSON.stringify(sinceTime.slice(0, 40))}`);
  if (!follow && !timestamps && sinceSeconds === undefined && sinceTime === undefined) return undefined;
  return {
    ...(follow ? { follow } : {}),
    ...(timestamps ? { timestamps } : {}),
    ...(sinceSeconds !== undefined ? { sinceSeconds } : {}),
    ...(sinceTime !== undefined ? { sinceTime } : {}),
  };
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function intParam(query: URLSearchParams, name: string, min: number): number | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min)
    throw new BadRequestError(`${name}: must be an integer >= ${min}, got ${JSON.stringify(raw.slice(0, 40))}`);
  return n;
}

function boolParam(query: URLSearchParams, name: string): boolean {
  const raw = query.get(name);
  if (raw === null || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new BadRequestError(`${name}: must be true or false, got ${JSON.stringify(raw.slice(0, 40))}`);
}
