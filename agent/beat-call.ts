/**
 * One held sync whose body streams beats (schemas/agent-beats.ts): the SyncRequest JSON as its first
 * line, then a beat every `everySeconds` until the answer has come, then the body's end. The
 * server answers the head at once when it takes the beats; a head that does not come within
 * BEAT_HEAD_MS (an old server reads the whole body first; a proxy that buffers request bodies
 * keeps even the first line from it) rejects with BeatsUnhonouredError, and so does a head
 * without the honoured header: the caller then falls back to plain holds. Where the offer has
 * `wakes`, aborting `wake` sends one WAKE_BYTE in the stream: the server answers the sync now.
 */
import type { Agent as HttpAgent, IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BEATS_HONOURED, SYNC_BEATS_HEADER, type SyncBeatsOffer, WAKE_BYTE } from '../schemas/agent-beats';

/** A success that did not take the beats (a proxy, a server between versions): fall back to plain holds. */
export function beatsUnhonoured(res: IncomingMessage): boolean {
  const status = res.statusCode ?? 0;
  return status >= 200 && status < 300 && res.headers[SYNC_BEATS_HEADER] !== BEATS_HONOURED;
}

/** How long the answer's head may take: a server that takes beats sends it before holding. */
export const BEAT_HEAD_MS = 3_000;
/** WAKE_BYTE as written to the stream. */
export const WAKE = String.fromCharCode(WAKE_BYTE);

export class BeatsUnhonouredError extends Error {}

export function beatCall(
  url: URL,
  token: string,
  connections: HttpAgent,
  payload: string,
  offer: SyncBeatsOffer,
  signal: AbortSignal,
  wake?: AbortSignal,
): Promise<{ status: number; text: string }> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let beat: NodeJS.Timeout | undefined;
    const req = request(
      url,
      {
        method: 'POST',
        agent: connections,
        signal,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'transfer-encoding': 'chunked',
          [SYNC_BEATS_HEADER]: '1',
        },
      },
      (res) => {
        clearTimeout(headDue);
        // A refusal (401, 422, 5xx) is the sync's answer, whoever sent it: the caller reads it as any.
        if (beatsUnhonoured(res)) {
          // Something answered without taking the beats (a proxy, a server between versions).
          clearInterval(beat);
          req.destroy();
          reject(new BeatsUnhonouredError(`the answer (status ${res.statusCode}) did not take the beats`));
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          clearInterval(beat);
          req.end();
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('connection closed mid-response')));
      },
    );
    const headDue = setTimeout(() => {
      clearInterval(beat);
      req.destroy();
      reject(new BeatsUnhonouredError(`no answer head within ${BEAT_HEAD_MS} ms of a sync streaming beats`));
    }, BEAT_HEAD_MS);
    req.on('error', (err) => {
      clearTimeout(headDue);
      clearInterval(beat);
      reject(err);
    });
    req.on('close', () => {
      clearTimeout(headDue);
      clearInterval(beat);
    });
    req.write(`${payload}\n`);
    beat = setInterval(() => {
      if (!req.destroyed) req.write('.');
    }, offer.everySeconds * 1000);
    if (offer.wakes && wake) {
      const sendWake = () => {
        if (!req.destroyed && !req.writableEnded) req.write(WAKE);
      };
      if (wake.aborted) sendWake();
      else wake.addEventListener('abort', sendWake, { once: true });
    }
  });
}
