/**
 * The resource names a container may ask for, as Kubernetes' validateContainerResourceName and
 * validateResourceRequirements have them, and what ferry does with each:
 * - `cpu`, `memory`: scheduled and enforced (Docker's CPU and memory limits);
 * - `ephemeral-storage` requests: scheduled against the node's `ephemeral-storage` (the agent
 *   reports its disk); its limits are refused, ferry cannot evict on disk use yet;
 * - extended resources (`example.com/gpu`: a domain-qualified name outside kubernetes.io): whole
 *   numbers, the limit given and the request equal to it (they cannot be overcommitted), scheduled
 *   against what nodes advertise (a pod asking for one no node has stays Pending, as in Kubernetes);
 * - `hugepages-*`: refused, ferry has no huge pages on its nodes yet;
 * - anything else is not a container resource (422).
 */
import { invalid } from '../causes';
import { parseQuantity } from '../quantity';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';

const STANDARD = new Set(['cpu', 'memory', 'ephemeral-storage']);
/** A qualified name (`prefix/name`) whose prefix is a DNS subdomain. */
const QUALIFIED =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function isExtended(name: string): boolean {
  const m = QUALIFIED.exec(name);
  if (!m) return false;
  const domain = m[1] as string;
  // kubernetes.io and its subdomains are Kubernetes' own names, never extended resources.
  return domain !== 'kubernetes.io' && !domain.endsWith('.kubernetes.io') && !name.startsWith('requests.');
}

function notSupported(field: string, what: string): StatusCause {
  return { field, reason: 'FieldValueNotSupported', message: `ferry does not support ${what} yet` };
}

export function checkContainerResources(resources: Rec, at: string, causes: StatusCause[]): void {
  const limits = isRec(resources.limits) ? resources.limits : {};
  const requests = isRec(resources.requests) ? resources.requests : {};
  for (const [part, list] of [
    ['limits', limits],
    ['requests', requests],
  ] as const) {
    for (const [name, q] of Object.entries(list)) {
      const field = `${at}.resources.${part}[${name}]`;
      if (name.startsWith('hugepages-')) causes.push(notSupported(field, 'hugepages'));
      else if (name === 'ephemeral-storage' && part === 'limits')
        causes.push(notSupported(field, 'ephemeral-storage limits (requests are scheduled)'));
      else if (STANDARD.has(name)) continue;
      else if (!isExtended(name)) causes.push(invalid(field, name, 'must be a standard resource for containers'));
      else checkExtended(name, q, part, limits, field, causes);
    }
  }
}

function checkExtended(
  name: string,
  q: unknown,
  part: 'limits' | 'requests',
  limits: Rec,
  field: string,
  causes: StatusCause[],
): void {
  let n: number;
  try {
    n = parseQuantity(q as string | number);
  } catch {
    return; // the quantity rule reports it
  }
  if (!Number.isInteger(n)) causes.push(invalid(field, q, 'must be an integer'));
  if (part !== 'requests') return;
  if (limits[name] === undefined) causes.push(invalid(field, q, 'Limit must be set for non overcommitable resources'));
  else if (String(limits[name]) !== String(q)) causes.push(invalid(field, q, `must be equal to ${name} limit`));
}
