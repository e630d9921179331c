/**
 * Releases cluster IP claims no Service holds (functions/cluster-ips.ts), as Kubernetes' ClusterIP
 * repair loop (pkg/registry/core/service/ipallocator/controller/repair.go); the loop is claim-repair.ts.
 */
import { CLUSTER_IP_CLAIM_KIND, clusterIPOf } from '../cluster-ips';
import type { Deps } from '../deps';
import { repairClaims } from './claim-repair';
import { type PassContext, standaloneContext } from './controller';

export function repairClusterIPs(deps: Deps, ctx: PassContext = standaloneContext(deps)): Promise<void> {
  return repairClaims(deps, ctx, {
    kind: CLUSTER_IP_CLAIM_KIND,
    heldBy: (svc) => {
      const ip = clusterIPOf(svc);
      return ip === undefined ? [] : [ip];
    },
    what: 'cluster IP',
    field: 'ip',
  });
}
