/**
 * The checks an upgrade request passes before its connection is taken over, in the API's order:
 * route (404), authentication (401), authorization (403: `create` on `pods/exec`, `pods/attach`
 * or `pods/portforward`, as Kubernetes authorizes them; a node's dial-back only for a session of
 * its own), the pod (404), the query (400), then the protocol (400 unless a WebSocket with a
 * channel protocol ferry speaks; for port-forward SPDY/3.1 with `portforward.k8s.io`, or a
 * WebSocket offering `SPDY/3.1+portforward.k8s.io`, the tunnel kubectl 1.31+ opens). Nothing
 * starts on a node unless all pass. Platform-free: the runtime does the handshake
 * (functions/runtime/exec-upgrade.ts).
 */
import { PROTOCOL_V4, PROTOCOL_V5, STREAM_PROTOCOLS } from '../../schemas/stream-channels';
import { BadRequestError, ForbiddenError } from '../errors';
import type { Obj } from '../store/types';
import { authenticate, authorize, authorizeObject, type TokenCache } from './auth';
import { planStream, type StreamPlan } from './exec';
import type { StreamTarget } from './exec-request';
import type { StreamPeer } from './exec-sessions';
import { mustGet } from './route-objects';
import { route } from './router';
import type { ApiDeps, ApiRequest } from './types';

export type UpgradeTarget =
  /** A client's exec or attach, with the subprotocol to answer the handshake with. */
  | { kind: 'client'; protocol: string; plan: StreamPlan }
  /** exec or attach over SPDY/3.1 (`v4.channel.k8s.io`: kubectl before 1.30), functions/runtime/spdy-exec.ts. */
  | { kind: 'spdy'; plan: StreamPlan }
  /**
   * kubectl port-forward: SPDY/3.1 with `portforward.k8s.io`, served by functions/runtime/port-forward.ts;
   * with `tunnel`, that SPDY rides a WebSocket answered with this subprotocol (kubectl 1.31+).
   */
  | { kind: 'portforward'; target: StreamTarget; tunnel?: string }
  /** A node's dial-back: hand its end to the waiting session. */
  | { kind: 'agent'; deliver: (agent: StreamPeer) => void };

export async function openUpgrade(deps: ApiDeps, req: ApiRequest, tokens?: TokenCache): Promise<UpgradeTarget> {
  const r = route(req.path);
  const principal = await authenticate(deps, req.headers, { cache: tokens });
  const sessions = deps.streams;
  if (!sessions) throw new BadRequestError('this server holds no stream sessions');
  if (r.type === 'agent' && r.op === 'stream') {
    if (principal.role !== 'node' || principal.nodeName === undefined)
      throw new ForbiddenError(
        `token "${principal.name}" (role ${principal.role}) may not answer a stream session: only the pod's node may`,
      );
    const id = req.query.get('session');
    if (!id || id.length > 64) throw new BadRequestError('session: the stream session id is required');
    requireWebSocket(req);
    return { kind: 'agent', deliver: sessions.claim(id, principal.nodeName) };
  }
  const sub = r.type === 'resource' && r.info.kind === 'Pod' ? r.subresource : undefined;
  if (r.type !== 'resource' || (sub !== 'exec' && sub !== 'attach' && sub !== 'portforward') || r.name === undefined)
    throw new BadRequestError(`${req.path.slice(0, 200)} takes no upgrade: only pods/exec and pods/attach do`);
  authorize(principal, {
    verb: 'create',
    kind: 'Pod',
    namespaced: true,
    ...(r.namespace !== undefined ? { namespace: r.namespace } : {}),
    name: r.name,
    subresource: sub,
  });
  const pod = await mustGet(deps, r);
  authorizeObject(principal, 'create', pod);
  if (sub === 'portforward') {
    const tunnel = pickTunnel(req);
    return { kind: 'portforward', target: planPortForward(pod, req, tunnel), ...(tunnel ? { tunnel } : {}) };
  }
  const plan = planStream(pod, sub, req.query);
  if ((req.headers.upgrade ?? '').toLowerCase() === 'spdy/3.1') {
    const offered = (req.headers['x-stream-protocol-version'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(PROTOCOL_V4))
      throw new BadRequestError(`X-Stream-Protocol-Version: ferry serves ${PROTOCOL_V4} over SPDY/3.1`);
    return { kind: 'spdy', plan };
  }
  return { kind: 'client', protocol: pickProtocol(req), plan };
}

/** The best channel protocol the client offers; a 400 for SPDY or a WebSocket without one. */
function pickProtocol(req: ApiRequest): string {
  requireWebSocket(req);
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const protocol = STREAM_PROTOCOLS.find((p) => offered.includes(p));
  if (!protocol)
    throw new BadRequestError(
      `no stream protocol ferry speaks was offered (${JSON.stringify(offered.join(', ').slice(0, 120))}): ferry speaks ${PROTOCOL_V5} and ${PROTOCOL_V4}`,
    );
  return protocol;
}

function requireWebSocket(req: ApiRequest): void {
  const upgrade = (req.headers.upgrade ?? '').toLowerCase();
  if (upgrade === 'websocket') return;
  throw new BadRequestError(`Upgrade: ${JSON.stringify(upgrade.slice(0, 40))} is not served: only websocket is`);
}

/**
 * kubectl 1.31+'s port-forward (PortForwardWebsockets): a WebSocket offering the SPDY protocol
 * behind `SPDY/3.1+`, whose binary messages carry the SPDY connection's bytes unchanged
 * (client-go's tools/portforward/tunneling_connection.go). The subprotocol to answer, if offered.
 */
function pickTunnel(req: ApiRequest): string | undefined {
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return undefined;
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  if (!offered.includes(PORT_FORWARD_TUNNEL))
    throw new BadRequestError(
      `port-forward over a WebSocket is served as ${PORT_FORWARD_TUNNEL} (kubectl 1.31+); offered ${JSON.stringify(offered.join(', ').slice(0, 120))}`,
    );
  return PORT_FORWARD_TUNNEL;
}

/**
 * What a port-forward needs before its upgrade: SPDY/3.1 offering `portforward.k8s.io` (or the
 * WebSocket tunnel, `tunnel`), and a pod on a node that is not finished.
 */
function planPortForward(pod: Obj, req: ApiRequest, tunnel: string | undefined): StreamTarget {
  if (!tunnel) {
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (upgrade !== 'spdy/3.1')
      throw new BadRequestError(
        `port-forward is served over SPDY/3.1 (portforward.k8s.io) or a WebSocket tunnel (${PORT_FORWARD_TUNNEL}), not ${JSON.stringify(upgrade.slice(0, 40))}`,
      );
    const offered = (req.headers['x-stream-protocol-version'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(PORT_FORWARD_PROTOCOL))
      throw new BadRequestError(`X-Stream-Protocol-Version: ferry serves ${PORT_FORWARD_PROTOCOL} for port-forward`);
  }
  const p = pod as Obj & { spec: { nodeName?: string; containers: { name: string }[] }; status?: { phase?: string } };
  const phase = p.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed')
    throw new BadRequestError(`cannot port-forward to a completed pod; current phase is ${phase}`);
  if (!p.spec.nodeName) throw new BadRequestError(`pod ${p.metadata.name} is not scheduled to a node yet`);
  return { pod, nodeName: p.spec.nodeName, container: p.spec.containers[0]?.name ?? '' };
}

export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';
/** The WebSocket subprotocol of the tunnel: client-go's WebsocketsSPDYTunnelingPrefix + the SPDY protocol. */
export const PORT_FORWARD_TUNNEL = `SPDY/3.1+${PORT_FORWARD_PROTOCOL}`;
