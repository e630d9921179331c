/** Compute Engine's errors as the SDK's REST transport delivers them, read in one place (gcp.ts, gcp-lb.ts). */

/**
 * The HTTP status and error reasons of a failed call, in Compute Engine's spelling (upper snake
 * case: `alreadyExists` → ALREADY_EXISTS). Through the REST transport a failed call rejects with
 * gaxios' error (`status` = the HTTP status, `message` = the JSON error body); google-gax's own
 * GoogleError (gRPC `code`, `reason`) is read too.
 */
export function apiError(err: unknown): { status?: number; reasons: string[] } {
  const e = (err ?? {}) as { status?: unknown; code?: unknown; reason?: unknown; message?: unknown };
  const grpc: Record<number, number> = { 5: 404, 6: 409, 8: 429 };
  let status =
    typeof e.status === 'number'
      ? e.status
      : typeof e.code === 'number'
        ? e.code >= 100
          ? e.code
          : grpc[e.code]
        : undefined;
  const reasons = new Set<string>();
  if (typeof e.reason === 'string') reasons.add(snake(e.reason));
  if (typeof e.message === 'string' && e.message.trimStart().startsWith('{')) {
    try {
      const body = JSON.parse(e.message) as {
        error?: { code?: unknown; errors?: { reason?: unknown }[] };
      };
      if (status === undefined && typeof body.error?.code === 'number') status = body.error.code;
      for (const item of body.error?.errors ?? []) if (typeof item.reason === 'string') reasons.add(snake(item.reason));
    } catch {
      // not a JSON error body
    }
  }
  return { ...(status !== undefined ? { status } : {}), reasons: [...reasons] };
}

function snake(reason: string): string {
  return reason.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}
