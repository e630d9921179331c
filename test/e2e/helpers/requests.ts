/**
 * Traffic for the e2e suites, bounded in count and time, to loopback and containers the test made:
 * one request on a new connection (so each is balanced afresh), a loop of them from this process,
 * and a loop inside a container (a pod's view of a cluster IP).
 */
import { spawn } from 'node:child_process';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { docker } from './cluster';

export interface Answer {
  status: number;
  body: string;
}

export interface AskOptions {
  /** The Host header (and, over HTTPS, the SNI name). */
  host?: string;
  path?: string;
  /** Ask over HTTPS, trusting this CA. */
  ca?: string;
  timeoutMs?: number;
}

/** One request on a new connection; the status and the trimmed body. */
export function ask(address: string, port: number, o: AskOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = {
      host: address,
      port,
      path: o.path ?? '/',
      agent: false,
      timeout: o.timeoutMs ?? 3000,
      ...(o.host !== undefined ? { headers: { host: o.host } } : {}),
    } as const;
    const onResponse = (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
      res.on('error', reject);
    };
    const req = o.ca
      ? httpsRequest({ ...options, servername: o.host, ca: o.ca }, onResponse)
      : httpRequest(options, onResponse);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** One GET of `/` on a new connection: the body of a 200, else an error naming the status. */
export async function getBody(address: string, port: number, timeoutMs = 3000): Promise<string> {
  const answer = await ask(address, port, { timeoutMs });
  if (answer.status !== 200) throw new Error(`HTTP ${answer.status}`);
  return answer.body;
}

export interface LoopResult {
  ok: number;
  /** Each failed request: when (ms since the epoch) and why. */
  failed: { at: number; error: string }[];
  /** The answers seen (pod names, for an httpd that replies with its pod's name). */
  pods: Set<string>;
}

/** `send` in a loop until `stop()`, at most `max` times and `maxMs` long; a failure waits 20 ms. */
export function requestLoop(send: () => Promise<string>, { max = 20_000, maxMs = 120_000 } = {}) {
  const started = Date.now();
  const result: LoopResult = { ok: 0, failed: [], pods: new Set() };
  let stopped = false;
  const done = (async () => {
    for (let i = 0; i < max && !stopped && Date.now() - started < maxMs; i++) {
      try {
        result.pods.add(await send());
        result.ok++;
      } catch (err) {
        result.failed.push({ at: Date.now(), error: (err as Error).message });
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  })();
  return {
    result,
    async stop(): Promise<LoopResult> {
      stopped = true;
      await done;
      return result;
    },
  };
}

/**
 * GETs of `url` in a loop inside a busybox container, until `stop()` (at most `max` requests or
 * `seconds` long); the counts of requests that answered and that failed. busybox-static's wget
 * crashes on -T (its timeout option): `timeout 5 wget` bounds each request instead.
 */
export function containerLoop(container: string, url: string, { max = 5000, seconds = 120 } = {}) {
  const script = [
    `ok=0; failed=0; i=0; end=$(( $(date +%s) + ${seconds} ))`,
    `while [ ! -e /tmp/stop ] && [ $i -lt ${max} ] && [ $(date +%s) -lt $end ]; do`,
    '  if timeout 5 wget -q -O /dev/null "$1"; then ok=$((ok+1)); else failed=$((failed+1)); fi',
    '  i=$((i+1))',
    'done',
    'echo "$ok $failed"',
  ].join('\n');
  // The URL is the script's $1, never part of its text.
  const loop = spawn('docker', ['exec', container, 'sh', '-c', script, 'loop', url]);
  let out = '';
  loop.stdout.on('data', (d) => {
    out += d;
  });
  const finished = new Promise<void>((r) => loop.on('close', () => r()));
  return {
    async stop(): Promise<{ ok: number; failed: number }> {
      docker('exec', container, 'touch', '/tmp/stop');
      await finished;
      const [ok, failed] = out.trim().split(' ').map(Number);
      return { ok: ok as number, failed: failed as number };
    },
  };
}
