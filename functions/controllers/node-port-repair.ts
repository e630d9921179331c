/**
 * Releases node port claims no Service holds (functions/node-ports.ts), as Kubernetes' port
 * allocator repair loop; the loop is claim-repair.ts.
 */
import type { Deps } from '../deps';
import { NODE_PORT_CLAIM_KIND, nodePortsOf } from '../node-ports';
import { repairClaims } from './claim-repair';
import { type PassContext, standaloneContext } from './controller';

export function repairNodePorts(deps: Deps, ctx: PassContext = standaloneContext(deps)): Promise<void> {
  return repairClaims(deps, ctx, { kind: NODE_PORT_CLAIM_KIND, heldBy: nodePortsOf, what: 'node port', field: 'port' });
}
