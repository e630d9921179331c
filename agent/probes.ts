/**
 * Liveness, readiness and startup probes, as the kubelet runs them: httpGet (2xx/3xx is success),
 * tcpSocket (a connection opens), exec (exit code 0, run through the container runtime), grpc
 * (grpc.health.v1 Health/Check answers SERVING; grpc-probe.ts).
 * https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-probes
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import type { Probe } from '../schemas/pod';
import { grpcHealthCheck, type ProbeResult } from './grpc-probe';

export type ProbeSpec = Probe;

export interface ProbeTarget {
  /** Address the probe connects to (the node IP for published ports, or the pod IP). */
  host: string;
  /** Maps a container port (number or name) to the port reachable at `host`. */
  resolvePort(port: number | string): number | undefined;
  /** Runs a command in the container; resolves to its exit code. */
  exec(command: string[], timeoutMs: number): Promise<number>;
}

export type { ProbeResult } from './grpc-probe';

export function runProbe(spec: ProbeSpec, target: ProbeTarget): Promise<ProbeResult> {
  return runHandler(spec, target, (spec.timeoutSeconds ?? 1) * 1000);
}

/** One probe or lifecycle-hook handler (exec, httpGet, tcpSocket, grpc), bounded by `timeoutMs`. */
export async function runHandler(
  spec: Pick<ProbeSpec, 'exec' | 'httpGet' | 'tcpSocket' | 'grpc'>,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeResult> {
  try {
    if (spec.httpGet) return await httpProbe(spec.httpGet, target, timeoutMs);
    if (spec.tcpSocket) return await tcpProbe(spec.tcpSocket, target, timeoutMs);
    if (spec.grpc) {
      const port = target.resolvePort(spec.grpc.port);
      if (port === undefined) return { ok: false, message: `port ${spec.grpc.port} is not published` };
      return await grpcHealthCheck(target.host, port, spec.grpc.service ?? '', timeoutMs);
    }
    if (spec.exec?.command?.length) {
      const code = await target.exec(spec.exec.command, timeoutMs);
      return code === 0 ? { ok: true } : { ok: false, message: `command exited with ${code}` };
    }
    return { ok: false, message: 'probe has no handler' };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

function httpProbe(
  get: NonNullable<ProbeSpec['httpGet']>,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeResult> {
  const port = target.resolvePort(get.port);
  if (port === undefined) return Promise.resolve({ ok: false, message: `port ${get.port} is not published` });
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'user-agent': 'ferry-probe/0.1' };
    for (const h of get.httpHeaders ?? []) headers[h.name] = h.value;
    const req = request(
      { host: get.host ?? target.host, port, path: get.path ?? '/', method: 'GET', headers, timeout: timeoutMs },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(
          code >= 200 && code < 400
            ? { ok: true }
            : { ok: false, message: `HTTP probe failed with statuscode: ${code}` },
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`HTTP probe timed out after ${timeoutMs}ms`)));
    req.on('error', (err) => resolve({ ok: false, message: err.message }));
    req.end();
  });
}

function tcpProbe(
  tcp: NonNullable<ProbeSpec['tcpSocket']>,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeResult> {
  const port = target.resolvePort(tcp.port);
  if (port === undefined) return Promise.resolve({ ok: false, message: `port ${tcp.port} is not published` });
  return new Promise((resolve) => {
    const socket = connect({ host: tcp.host ?? target.host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ ok: true });
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve({ ok: false, message: `dial tcp ${port}: i/o timeout` });
    });
    socket.once('error', (err) => resolve({ ok: false, message: err.message }));
  });
}

/** Tracks consecutive results against success/failure thresholds. */
export class ProbeState {
  private successes = 0;
  private failures = 0;
  /** The last failure's message, for the Unhealthy reason. */
  lastMessage = '';
  private lastRun = 0;
  passing: boolean;

  constructor(
    readonly spec: ProbeSpec,
    initiallyPassing: boolean,
  ) {
    this.passing = initiallyPassing;
  }

  /** failureThreshold failures in a row (what ends a startup probe). */
  get failed(): boolean {
    return this.failures >= (this.spec.failureThreshold ?? 3);
  }

  due(now: number, startedAt: number): boolean {
    if (now - startedAt < (this.spec.initialDelaySeconds ?? 0) * 1000) return false;
    return now - this.lastRun >= (this.spec.periodSeconds ?? 10) * 1000;
  }

  record(now: number, result: ProbeResult): void {
    this.lastRun = now;
    if (result.ok) {
      this.failures = 0;
      this.successes++;
      if (this.successes >= (this.spec.successThreshold ?? 1)) this.passing = true;
    } else {
      this.successes = 0;
      this.failures++;
      this.lastMessage = result.message;
      if (this.failures >= (this.spec.failureThreshold ?? 3)) this.passing = false;
    }
  }
}
