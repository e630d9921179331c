/**
 * What a pod gets to reach the ferry API from inside, as Kubernetes gives every pod the
 * `kubernetes` Service: the `KUBERNETES_SERVICE_*` variables (in every container, whatever
 * `enableServiceLinks` says, as the kubelet does), the /etc/hosts entries the address needs, and
 * the pod's ServiceAccount token mount. main.ts builds it from the node's API relay
 * (../api-relay.ts) and the pod token keeper (service-account.ts).
 */
import type { PodTokens } from './service-account';

export interface InClusterApi {
  env(): { name: string; value: string }[];
  hostAliases(): { ip: string; hostnames: string[] }[];
  tokens: PodTokens;
}
