/**
 * A WebSocket as a pipe of binary messages: both ends of a stream session (the API's splice in
 * functions/runtime/exec-upgrade.ts, the node's dial-back in agent/exec/dial.ts) adapt theirs
 * with this. Messages that arrive before `onMessage` is set are kept for it, so a fast peer
 * loses nothing between the handshake and the splice; text messages are not part of the
 * protocol and are dropped. Typed structurally, so this floor imports nothing (the `ws`
 * package's WebSocket fits).
 */

export interface MessagePeer {
  send(message: Buffer): void;
  close(): void;
  onMessage(listener: (message: Buffer) => void): void;
  onClose(listener: () => void): void;
  /** Stops reading from the peer (backpressure) until `resume`. */
  pause(): void;
  resume(): void;
}

/** What of a `ws` WebSocket this uses. */
export interface BinarySocket {
  readonly readyState: number;
  readonly OPEN: number;
  readonly CONNECTING: number;
  readonly CLOSED: number;
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): unknown;
  on(event: 'error' | 'close', listener: () => void): unknown;
  send(data: Buffer, options: { binary: boolean }): void;
  close(code: number): void;
  terminate(): void;
  pause(): void;
  resume(): void;
}

export function messagePeerOf(ws: BinarySocket): MessagePeer {
  let listener: ((m: Buffer) => void) | undefined;
  const early: Buffer[] = [];
  ws.on('message', (data, isBinary) => {
    if (!isBinary) return;
    const m = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (listener) listener(m);
    else early.push(m);
  });
  ws.on('error', () => ws.terminate());
  return {
    send(message) {
      if (ws.readyState === ws.OPEN) ws.send(message, { binary: true });
    },
    close() {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1000);
    },
    onMessage(l) {
      listener = l;
      for (const m of early.splice(0)) l(m);
    },
    onClose(l) {
      if (ws.readyState === ws.CLOSED) l();
      else ws.on('close', () => l());
    },
    pause: () => ws.pause(),
    resume: () => ws.resume(),
  };
}
