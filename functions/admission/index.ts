/**
 * Admission shared by the API and the controllers: what a pod must pass before it is stored,
 * whoever creates it. The API calls the parts on each write path (functions/api/policy.ts); the
 * controllers call `admitControllerPod` just before `store.create(pod)`.
 */
import type { Deps } from '../deps';
import type { Obj } from '../store/types';
import { applyLimitRanges } from './limit-range';
import { admitPodSecurity } from './pod-security';
import { resolvePodPriority } from './priority';
import { checkQuota } from './quota/check';
import { admitServiceAccount } from './service-account';

export { applyLimitRanges } from './limit-range';
export { admitPodSecurity } from './pod-security';
export { resolvePodPriority } from './priority';
export { checkQuota, QUOTA_LEDGER_KIND, type QuotaChange, refreshQuotaStatus, releaseQuota } from './quota/check';
export { admitServiceAccount } from './service-account';

/**
 * A pod a controller is about to create: its ServiceAccount (named, must exist; in place), its
 * priority from its PriorityClass and LimitRange defaults (both in place), Pod Security enforce
 * and ResourceQuota, in that order (Kubernetes runs LimitRanger before ResourceQuota so defaulted
 * requests are counted). Throws ForbiddenError (403) with Kubernetes' message; the controller
 * should record it as a FailedCreate event and try again on a later pass.
 */
export async function admitControllerPod(deps: Deps, pod: Obj): Promise<void> {
  await admitServiceAccount(deps, pod);
  await resolvePodPriority(deps, pod);
  await applyLimitRanges(deps, pod);
  await admitPodSecurity(deps, pod);
  await checkQuota(deps, pod);
}
