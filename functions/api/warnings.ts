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

/** What writing `obj` (of `kind`) should warn about: what ferry accepts but does not act on. */
export function objectWarnings(kind: string, obj: unknown): string[] {
  if (kind === 'NetworkPolicy') return [NETWORK_POLICY_WARNING];
  if (kind !== 'Ingress' || typeof obj !== 'object' || obj === null) return [];
  const ignored = ignoredIngressAnnotations(obj as Record<string, unknown>);
  if (ignored.length === 0) return [];
  const shown = ignored.length > 5 ? [...ignored.slice(0, 5), `and ${ignored.length - 5} more`] : ignored;
  return [`ferry's ingress does not act on ingress-nginx annotations: ${shown.join(', ')} (ignored)`];
}

/** What a successful write of `info`'s kind should warn about, given the stored object it answered. */
export function writeWarnings(info: KindInfo, method: string, res: ApiResponse): string[] {
  if (!WRITES.has(method) || res.status < 200 || res.status > 299) return [];
  if (info.kind === 'NetworkPolicy') return [NETWORK_POLICY_WARNING];
  if (info.kind !== 'Ingress') return [];
  try {
    return objectWarnings(info.kind, JSON.parse(res.body));
  } catch {
    return [];
  }
}

/** What an apply bundle's answer (`ApplyResult`, each item with its object) should warn about. */
export function applyWarnings(res: ApiResponse): string[] {
  if (res.status !== 200) return [];
  try {
    const result = JSON.parse(res.body) as { items?: { kind?: string; object?: unknown }[] };
    return [...new Set((result.items ?? []).flatMap((i) => objectWarnings(String(i.kind), i.object)))];
  } catch {
    return [];
  }
}

/** The response with its warnings added after any it carries (Pod Security's, policy.ts). */
export function withWarnings(res: ApiResponse, warnings: string[]): ApiResponse {
  if (warnings.length === 0) return res;
  const value = [res.headers.warning, ...warnings.map(warningValue)].filter(Boolean).join(', ');
  return { ...res, headers: { ...res.headers, warning: value } };
}
