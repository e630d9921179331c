/**
 * The stream sessions a server holds open for kubectl exec/attach and followed logs: each waits
 * for the pod's node to dial back (`/agent/v1/stream?session=<id>`), since the control plane never
 * calls an agent. An id is random (192 bits), single-use (claimed once, then gone), expires with
 * its request, and only the node it was opened for may claim it; anything else is refused before
 * a byte is relayed. In memory: the dial-back must reach the server process the client is on (one
 * `ferry server`; Lambda holds no connection at all and has none).
 */
import { randomBytes } from 'node:crypto';
import type { MessagePeer } from '../../schemas/message-peer';
import { ForbiddenError, NotFoundError } from '../errors';
import type { Clock } from '../store/types';

/**
 * One end of a message pipe: schemas/message-peer.ts's, which both the WebSocket adapter and the
 * SPDY exec adapter (functions/runtime/spdy-exec.ts) make. The name says its use here.
 */
export type StreamPeer = MessagePeer;

export interface OpenSession {
  id: string;
  /** The node's end once it dials back; undefined when the session expired or was cancelled first. */
  agent: Promise<StreamPeer | undefined>;
  /** The client went away: the session can no longer be claimed. */
  cancel(): void;
}

interface Pending {
  nodeName: string;
  expiresAt: number;
  settle: (agent: StreamPeer | undefined) => void;
}

export class StreamSessions {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly clock: Clock) {}

  /** A new session for a pod of `nodeName`, claimable within `ttlMs`. */
  open(nodeName: string, ttlMs: number): OpenSession {
    const id = randomBytes(24).toString('base64url');
    let settle!: (agent: StreamPeer | undefined) => void;
    const agent = new Promise<StreamPeer | undefined>((resolve) => {
      settle = resolve;
    });
    const timer = setTimeout(() => this.drop(id), ttlMs);
    timer.unref?.();
    this.pending.set(id, {
      nodeName,
      expiresAt: this.clock() + ttlMs,
      settle: (peer) => {
        clearTimeout(timer);
        settle(peer);
      },
    });
    return { id, agent, cancel: () => this.drop(id) };
  }

  /**
   * The node's dial-back: what to hand its end to. Throws NotFoundError for an id that is unknown,
   * used or expired, and ForbiddenError for another node's session (which stays claimable by its
   * own node: a wrong caller cannot spoil it).
   */
  claim(id: string, nodeName: string): (agent: StreamPeer) => void {
    const p = this.pending.get(id);
    if (!p || p.expiresAt <= this.clock()) {
      if (p) this.drop(id);
      throw new NotFoundError('StreamSession', '', 'stream session not found: unknown, already used or expired');
    }
    if (p.nodeName !== nodeName)
      throw new ForbiddenError(`node "${nodeName}" may not answer a stream session for another node's pod`);
    this.pending.delete(id);
    return (agent) => p.settle(agent);
  }

  /** Sessions waiting for their node (tests, and a server's close). */
  get size(): number {
    return this.pending.size;
  }

  /** Expires every waiting session (the server is closing). */
  closeAll(): void {
    for (const id of [...this.pending.keys()]) this.drop(id);
  }

  private drop(id: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.settle(undefined);
  }
}
