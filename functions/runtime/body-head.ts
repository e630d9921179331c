/**
 * A request body read only up to its first line, the rest left streaming (a held sync's beats,
 * schemas/agent-beats.ts): the head has the body limit and deadline of any body (http-server.ts),
 * the tail arrives as it comes. Only requests that carry SYNC_BEATS_HEADER with a chunked body are
 * read this way; the others are read whole.
 */
import type { IncomingMessage } from 'node:http';
import { SYNC_BEATS_HEADER } from '../../schemas/agent-beats';
import type { BodyTail } from '../api/types';

const NEWLINE = 0x0a;

export interface BodyHead {
  head: Uint8Array;
  tail: BodyTail;
  /** After the answer: a tail nobody read is drained, so the connection can carry the next request. */
  drain(): void;
}

/** Whether the request asks to have its body read up to the first line. */
export function wantsBodyHead(req: IncomingMessage): boolean {
  return req.headers[SYNC_BEATS_HEADER] !== undefined && req.headers['transfer-encoding'] !== undefined;
}

export function readBodyHead(
  req: IncomingMessage,
  limit: number,
  deadlineMs: number,
): Promise<BodyHead | 'too-large' | 'timeout'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (value: BodyHead | 'too-large' | 'timeout') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      resolve(value);
    };
    const timer = setTimeout(() => finish('timeout'), deadlineMs);
    const onData = (chunk: Buffer) => {
      const at = chunk.indexOf(NEWLINE);
      size += at < 0 ? chunk.length : at;
      if (size > limit) return finish('too-large');
      if (at < 0) {
        chunks.push(chunk);
        return;
      }
      chunks.push(chunk.subarray(0, at));
      req.pause();
      finish(headAndTail(req, Buffer.concat(chunks), chunk.subarray(at + 1), false));
    };
    // The body ended before a first line ended: it is all head.
    const onEnd = () => finish(headAndTail(req, Buffer.concat(chunks), Buffer.alloc(0), true));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', (err) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject(err);
      }
    });
    req.on('close', () => finish('timeout'));
  });
}

function headAndTail(req: IncomingMessage, head: Buffer, rest: Buffer, ended: boolean): BodyHead {
  let read = false;
  const tail: BodyTail = {
    read(onChunk, onEnd) {
      if (read) return;
      read = true;
      let over = false;
      const end = () => {
        if (over) return;
        over = true;
        onEnd();
      };
      if (rest.length > 0) onChunk(new Uint8Array(rest));
      if (ended) return end();
      req.on('data', (chunk: Buffer) => onChunk(new Uint8Array(chunk)));
      req.on('end', end);
      req.on('close', end);
      req.resume();
    },
    destroy: () => req.destroy(),
  };
  return {
    head: new Uint8Array(head),
    tail,
    drain: () => {
      if (!read)
        tail.read(
          () => undefined,
          () => undefined,
        );
    },
  };
}
