/**
 * The channels of a Kubernetes remote-command stream (`v5.channel.k8s.io`, and `v4` without the
 * close signal), used end to end: kubectl <-> API server <-> node agent. Every WebSocket message
 * is binary, its first byte the channel and the rest the data
 * (k8s.io/apimachinery/pkg/util/remotecommand/constants.go). The API splices messages between the
 * client and the node's dial-back unchanged, so both ends share these numbers.
 */

export const CHANNEL = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  /** A v1 Status, sent once at the end: Success, or Failure (reason NonZeroExitCode, cause ExitCode). */
  error: 3,
  /** `{"Width":W,"Height":H}`: the client's terminal size, with a TTY. */
  resize: 4,
  /** v5: `[255, channel]` closes that channel (stdin: end of input). */
  close: 255,
} as const;

export const PROTOCOL_V5 = 'v5.channel.k8s.io';
export const PROTOCOL_V4 = 'v4.channel.k8s.io';
/** What ferry speaks, best first (v5 adds the close signal kubectl 1.30 sends at stdin's end). */
export const STREAM_PROTOCOLS: readonly string[] = [PROTOCOL_V5, PROTOCOL_V4];

/** One message: the channel byte, then the data. */
export function frame(channel: number, data: Uint8Array | string = new Uint8Array(0)): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = channel;
  out.set(body, 1);
  return out;
}

/** The channel and data of a message; undefined for an empty one (no channel byte). */
export function unframe(message: Uint8Array): { channel: number; data: Buffer } | undefined {
  if (message.length === 0) return undefined;
  const buf = Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.length);
  return { channel: buf[0] as number, data: buf.subarray(1) };
}

/** The v1 Status that ends a session on the error channel, as the kubelet writes it. */
export function exitStatus(exitCode: number | undefined, message?: string): object {
  if (message !== undefined)
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'InternalError' };
  if (exitCode === undefined || exitCode === 0)
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' };
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: exit status ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** The terminal size a resize message carries, or undefined when it is not one. */
export function parseResize(data: Uint8Array): { width: number; height: number } | undefined {
  try {
    const v = JSON.parse(Buffer.from(data).toString('utf8')) as { Width?: unknown; Height?: unknown };
    const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535;
    return ok(v.Width) && ok(v.Height) ? { width: v.Width, height: v.Height } : undefined;
  } catch {
    return undefined;
  }
}
