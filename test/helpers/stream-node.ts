/**
 * Plays a node's agent for stream sessions without Docker: watches the store for stream requests
 * to `nodeName`, dials back with a node token (the real agent/exec/dial.ts) and runs the real
 * agent/exec/session.ts on a FakeRuntime container, one per pod uid (port-forward: to 127.0.0.1). What the fake container
 * prints and how it exits the test drives through `runtime`.
 */
import { dialStream } from '../../agent/exec/dial';
import { forwardPort, runSession, type StreamRequestRef } from '../../agent/exec/session';
import { FakeRuntime } from '../../agent/runtime/fake';
import type { ApiDeps } from '../../functions/api/types';
import { LOG_REQUEST_KIND } from '../../functions/node-desired';
import type { StateStore } from '../../functions/store/types';
import { issueToken } from '../../functions/tokens';

export interface StreamNode {
  runtime: FakeRuntime;
  /** The fake container standing for pod `uid`'s `container` (made on first use). */
  containerOf(uid: string, container: string): string;
  /** Stream requests seen, in order. */
  seen: StreamRequestRef[];
  stop(): void;
}

export async function startStreamNode(
  deps: ApiDeps,
  store: StateStore,
  url: string,
  nodeName: string,
  ca?: string,
): Promise<StreamNode> {
  const { token } = await issueToken(deps, { role: 'node', nodeName });
  const runtime = new FakeRuntime();
  const ids = new Map<string, string>();
  const seen: StreamRequestRef[] = [];
  const containerOf = (uid: string, container: string): string => {
    const key = `${uid}/${container}`;
    let id = ids.get(key);
    if (!id) {
      id = `c-${ids.size + 1}`;
      runtime.containers.set(id, {
        id,
        podUid: uid,
        podName: '',
        podNamespace: '',
        role: 'container',
        containerName: container,
        running: true,
        exitCode: 0,
        env: [],
        startedAt: new Date().toISOString(),
      });
      ids.set(key, id);
    }
    return id;
  };
  const unwatch = store.watch((ev) => {
    if (ev.type !== 'ADDED' || ev.object.kind !== LOG_REQUEST_KIND) return;
    const spec = ev.object.spec as Omit<StreamRequestRef, 'namespace' | 'name'> & { nodeName: string };
    if (!spec.stream || spec.nodeName !== nodeName) return;
    const req: StreamRequestRef = {
      ...spec,
      namespace: ev.object.metadata.namespace as string,
      name: ev.object.metadata.name,
    };
    seen.push(req);
    void (async () => {
      const socket = await dialStream(url, token, spec.stream.session, ca);
      // Port-forward connects to the pod's IP: here the test's own listeners on loopback.
      if (spec.stream.kind === 'portforward') return forwardPort('127.0.0.1', req, socket);
      const id = containerOf(spec.pod.uid, spec.container);
      const c = runtime.containers.get(id);
      await runSession(runtime, c && { id, running: c.running }, req, socket);
    })().catch(() => undefined);
  });
  return { runtime, containerOf, seen, stop: unwatch };
}
