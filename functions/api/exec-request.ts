/**
 * A stream session's request for the pod's node: an internal `LogRequest` carrying `spec.stream`
 * (schemas/agent-protocol.ts), so it rides the same NodeDesired section as log requests and a held
 * sync returns with it at once (functions/node-desired.ts). Deleted as soon as the node dials back
 * or the session ends, whichever is first.
 */
import { randomBytes } from 'node:crypto';
import type { StreamRequest } from '../../schemas/agent-protocol';
import type { Deps } from '../deps';
import { isNotFound } from '../errors';
import { LOG_REQUEST_KIND } from '../node-desired';
import type { Obj, ObjectRef } from '../store/types';
import type { StreamPeer, StreamSessions } from './exec-sessions';

/** A node that does not dial back within this gives the client an error (as a log request's 504). */
export const STREAM_DIAL_TIMEOUT_MS = 25_000;

export interface StreamTarget {
  pod: Obj;
  nodeName: string;
  container: string;
}

/**
 * Opens a session, writes its request, and waits for the node's end; the request is deleted
 * before this returns. Undefined when the node did not dial back in time or `cancelled` fired.
 */
export async function dialNode(
  deps: Deps,
  sessions: StreamSessions,
  target: StreamTarget,
  stream: Omit<StreamRequest, 'session'>,
  cancelled?: AbortSignal,
): Promise<StreamPeer | undefined> {
  const session = sessions.open(target.nodeName, STREAM_DIAL_TIMEOUT_MS);
  const onCancel = () => session.cancel();
  cancelled?.addEventListener('abort', onCancel, { once: true });
  if (cancelled?.aborted) session.cancel();
  const { namespace, name, uid } = target.pod.metadata as { namespace: string; name: string; uid: string };
  const request: Obj = {
    apiVersion: 'ferry.dev/v1',
    kind: LOG_REQUEST_KIND,
    metadata: { namespace, name: `${name.slice(0, 200)}.${randomBytes(5).toString('hex')}` },
    spec: {
      nodeName: target.nodeName,
      pod: { namespace, name, uid },
      container: target.container,
      previous: false,
      tailLines: 0,
      limitBytes: 0,
      stream: { ...stream, session: session.id },
    },
  };
  const ref: ObjectRef = { kind: LOG_REQUEST_KIND, namespace, name: request.metadata.name };
  try {
    await deps.store.create(request);
    return await session.agent;
  } finally {
    session.cancel();
    cancelled?.removeEventListener('abort', onCancel);
    await deps.store.delete(ref).catch((err) => {
      if (!isNotFound(err))
        deps.log.warn('deleting a stream request failed', { request: ref.name, error: String(err) });
    });
  }
}
