/**
 * Kubernetes API warnings (`Warning: 299 - "..."` response headers, which kubectl and client-go
 * print): ferry accepts some objects it does not act on yet, and says so on every write of them
 * rather than only in the README. https://kubernetes.io/blog/2020/09/03/warnings/
 */

import type { KindInfo } from '../../schemas/kinds';
import { ignoredIngressAnnotations } from '../../schemas/rules/networking';
import type { ApiResponse } from './types';

const WRITES = new Set(['POST', 'PUT', 'PATCH']);

export const NETWORK_POLICY_WARNING =
  'ferry does not enforce NetworkPolicy yet: this policy is stored but every pod still accepts and makes any connection';

/** `299 - "text"`, with the quoted-string escapes RFC 7234 asks for. */
export function warningValue(text: string): string {
  return `299 - "${text.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\r\n]/g, ' ')}"`;
}

/** What a successful write of `info`'s kind should warn about, given the stored object it answered. */
export function writeWarnings(info: KindInfo, method: string, res: ApiResponse): string[] {
  if (!WRITES.has(method) || res.status < 200 || res.status > 299) return [];
  if (info.kind === 'NetworkPolicy') return [NETWORK_POLICY_WARNING];
  if (info.kind !== 'Ingress') return [];
  let obj: unknown;
  try {
    obj = JSON.parse(res.body);
  } catch {
    return [];
  }
  if (typeof obj !== 'object' || obj === null || (obj as { kind?: unknown }).kind !== 'Ingress') return [];
  const ignored = ignoredIngressAnnotations(obj as Record<string, unknown>);
  if (ignored.length === 0) return [];
  const shown = ignored.length > 5 ? [...ignored.slice(0, 5), `and ${ignored.length - 5} more`] : ignored;
  return [`ferry's ingress does not act on ingress-nginx annotations: ${shown.join(', ')} (ignored)`];
}

/** The response with its warnings added (Kubernetes sends one header value per warning). */
export function withWarnings(res: ApiResponse, warnings: string[]): ApiResponse {
  if (warnings.length === 0) return res;
  const value = warnings.map(warningValue).join(', ');
  return { ...res, headers: { ...res.headers, warning: value } };
}
