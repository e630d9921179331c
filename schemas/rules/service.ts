/** Rules for Services: port names (required when there are several, unique) and target ports. */
import { duplicate, invalid, required } from '../causes';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';

/** Kubernetes' IsValidPortName (IANA_SVC_NAME): at most 15 characters, a letter, no `--`. */
const PORT_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?!-))*(?<!-)$/;

export function checkService(spec: Rec, causes: StatusCause[]): void {
  const ports = Array.isArray(spec.ports) ? spec.ports.filter(isRec) : [];
  const names = new Set<unknown>();
  ports.forEach((p, i) => {
    if (ports.length > 1 && (p.name === undefined || p.name === ''))
      causes.push(required(`spec.ports[${i}].name`, 'a name is required when a Service has more than one port'));
    if (p.name !== undefined) {
      if (names.has(p.name)) causes.push(duplicate(`spec.ports[${i}].name`, p.name));
      names.add(p.name);
    }
    const target = p.targetPort;
    if (typeof target === 'string' && (target.length > 15 || !PORT_NAME.test(target)))
      causes.push(
        invalid(
          `spec.ports[${i}].targetPort`,
          target,
          'must be a port number or an IANA_SVC_NAME (at most 15 lower-case alphanumerics or -, with a letter)',
        ),
      );
    // Unlike Kubernetes, a ClusterIP Service has node ports too: ferry has no cluster IPs and
    // reaches every Service through its node port (functions/node-ports.ts).
  });
}
