/**
 * The one translator from errors to HTTP responses (like middy's http-error-handler): a FerryError
 * becomes a Kubernetes `Status` body with its code, reason and causes; anything else is a 500 whose
 * details go to the log only, never to the caller.
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#response-status-kind
 */
import { FerryError, InternalError, type StatusDetails } from '../errors';
import type { Logger } from '../log';
import type { ApiResponse } from './types';

/** Cause messages echo user input; a huge string must not come back a megabyte long. */
const MAX_MESSAGE_CHARS = 1024;

export const JSON_HEADERS = { 'content-type': 'application/json' } as const;

export function jsonResponse(status: number, body: unknown): ApiResponse {
  return { status, headers: { ...JSON_HEADERS }, body: JSON.stringify(body) };
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

export function statusBody(code: number, reason: string, message: string, details?: StatusDetails): StatusBody {
  const body: StatusBody = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: code < 400 ? 'Success' : 'Failure',
    message: truncate(message, MAX_MESSAGE_CHARS * 4),
    reason,
    code,
  };
  if (details && Object.keys(details).length > 0) {
    const d: StatusDetails = { ...details };
    if (d.name !== undefined) d.name = truncate(d.name, MAX_MESSAGE_CHARS);
    if (d.causes) {
      d.causes = d.causes.map((c) => ({
        ...c,
        message: truncate(c.message, MAX_MESSAGE_CHARS),
        ...(c.field !== undefined ? { field: truncate(c.field, MAX_MESSAGE_CHARS) } : {}),
      }));
    }
    body.details = d;
  }
  return body;
}

/**
 * Translates any thrown value to a response. 4xx and a deliberate 503 (a resource is exhausted):
 * shown to the caller; other 5xx: logged, generic message.
 */
export function errorResponse(err: unknown, log: Logger, context: { method: string; path: string }): ApiResponse {
  if (
    err instanceof FerryError &&
    (err.status < 500 || err.status === 503 || (err instanceof InternalError && err.shown))
  ) {
    const res = jsonResponse(err.status, statusBody(err.status, err.reason, err.message, err.details));
    const retry = err.details.retryAfterSeconds;
    if (retry !== undefined && retry > 0) res.headers['retry-after'] = String(retry);
    return res;
  }
  const status = err instanceof FerryError ? err.status : 500;
  const reason = err instanceof FerryError ? err.reason : 'InternalError';
  log.error('request failed', {
    method: context.method,
    path: context.path,
    status,
    error: err instanceof Error ? err.message : String(err),
    stack: err instanceof Error ? err.stack : undefined,
  });
  const message =
    status === 500 ? 'an internal error occurred; the server log has the details' : `the request failed (${reason})`;
  return jsonResponse(status, statusBody(status, reason, message));
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}... (${s.length - max} more characters)`;
}
