/**
 * A node:http request as the API core reads it: method, path (percent-decoded; left as sent when
 * it does not decode), query and headers (repeated ones joined with ", "). The server's requests
 * (http-server.ts) and its upgrades (exec-upgrade.ts) both read theirs with this.
 */
import type { IncomingMessage } from 'node:http';
import type { ApiRequest } from '../api/types';

export function apiRequestHead(req: IncomingMessage): Pick<ApiRequest, 'method' | 'path' | 'query' | 'headers'> {
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  const headers: Record<string, string> = {};
  for (const k in req.headers) {
    const v = req.headers[k];
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return {
    method: req.method ?? 'GET',
    path: safeDecode(q === -1 ? target : target.slice(0, q)),
    query: new URLSearchParams(q === -1 ? '' : target.slice(q + 1)),
    headers,
  };
}

function safeDecode(path: string): string {
  if (!path.includes('%')) return path;
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
