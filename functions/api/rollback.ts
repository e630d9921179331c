/**
 * `POST /apis/apps/v1/namespaces/{ns}/deployments/{name}/rollback`: put an earlier revision's pod
 * template back into a Deployment in one call; `ferry rollout undo` and CI jobs use it. Modelled
 * on the DeploymentRollback Kubernetes served in extensions/v1beta1 (apps/v1 left rollback to
 * kubectl, whose client-side undo -- read the ReplicaSets, PATCH the Deployment -- works against
 * ferry too). The deployment controller then rolls out as for any template change and makes that
 * ReplicaSet the newest revision again.
 *
 * Body, optional: `{"rollbackTo": {"revision": N}}`; N omitted or 0 means the revision before the
 * newest. Answers a `Status` naming the revision, with reason `Unchanged` when the Deployment
 * already runs that template (kubectl's "skipped rollback").
 */

import { isDeepStrictEqual } from 'node:util';
import { type Deployment, POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, type ReplicaSet } from '../../schemas';
import { BadRequestError, ConflictError, InvalidError, isConflict, NotFoundError } from '../errors';
import { isObjectAt, retryOnConflict } from '../store/retry';
import type { StateStore } from '../store/types';
import { isRecord } from './admission';
import type { Principal } from './auth';
import { checkTree, parseBody } from './body';
import { admitPolicy } from './policy';
import type { ApiDeps, ApiRequest } from './types';

export interface RollbackOutcome {
  deployment: Deployment;
  /** The revision whose template the Deployment now has. */
  revision: number;
  /** The Deployment already had that template; nothing was written. */
  unchanged: boolean;
}

const ATTEMPTS = 5;

/** The refusal of a paused Deployment: a 409 that is the answer, not a lost race to retry. */
class PausedError extends ConflictError {}

/** Writes the template of `toRevision` (default: the previous revision) into the Deployment. */
export async function rollbackDeployment(
  store: StateStore,
  ref: { namespace: string; name: string },
  toRevision = 0,
  dryRun = false,
  /** Admission of the rolled-back Deployment (Pod Security, nodeName): the namespace may have tightened since. */
  admitNext?: (next: Deployment, stored: Deployment) => Promise<unknown>,
): Promise<RollbackOutcome> {
  const at = { kind: 'Deployment', ...ref };
  // Retried from the Deployment the conflict carries; the ReplicaSets are listed again, since the
  // revision to roll back to is chosen among them.
  return retryOnConflict(
    async (current) => {
      const d = isObjectAt(current, at) ? (current as Deployment) : await store.get<Deployment>(at);
      if (!d) throw new NotFoundError('Deployment', ref.name);
      if (d.spec.paused) {
        throw new PausedError(
          'Deployment',
          ref.name,
          d,
          `deployment "${ref.name}" is paused: resume it first (ferry rollout resume deployment/${ref.name}), then roll back`,
        );
      }
      const target = chooseRevision(d, await ownedReplicaSets(store, d), toRevision);
      if (!target.spec.template) throw new BadRequestError(`revision ${revisionOf(target)} has no pod template`);
      const template = structuredClone(target.spec.template);
      if (template.metadata?.labels) delete template.metadata.labels[POD_TEMPLATE_HASH_LABEL];
      const revision = revisionOf(target);
      if (isDeepStrictEqual(template, d.spec.template)) return { deployment: d, revision, unchanged: true };
      const next: Deployment = { ...d, spec: { ...d.spec, template } };
      await admitNext?.(next, d);
      if (dryRun) return { deployment: next, revision, unchanged: false };
      return { deployment: await store.update(next), revision, unchanged: false };
    },
    { attempts: ATTEMPTS, retryIf: (err) => isConflict(err) && !(err instanceof PausedError) },
  );
}

/** The HTTP face of rollbackDeployment: parses the body, answers a `Status`. */
export async function handleRollback(
  deps: ApiDeps,
  req: ApiRequest,
  ref: { namespace: string; name: string },
  dryRun: boolean,
  principal: Principal,
): Promise<Record<string, unknown>> {
  const outcome = await rollbackDeployment(deps.store, ref, requestedRevision(req, deps, ref.name), dryRun, (next, d) =>
    admitPolicy(deps, principal, next, d),
  );
  const what = `deployment "${ref.name}"`;
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    code: 200,
    ...(outcome.unchanged ? { reason: 'Unchanged' } : {}),
    message: outcome.unchanged
      ? `skipped rollback (current template already matches revision ${outcome.revision})`
      : `${what} rolled back to revision ${outcome.revision}${dryRun ? ' (dry run)' : ''}`,
    details: { name: ref.name, group: 'apps', kind: 'deployments' },
  };
}

function requestedRevision(req: ApiRequest, deps: ApiDeps, name: string): number {
  if (!req.body || req.body.length === 0) return 0;
  const body = parseBody(req, deps.config.maxBodyBytes);
  checkTree(body);
  if (!isRecord(body))
    throw new BadRequestError('the request body must be an object like {"rollbackTo": {"revision": 2}}');
  const unknown = Object.keys(body).filter((k) => !['apiVersion', 'kind', 'name', 'rollbackTo'].includes(k));
  if (unknown.length > 0) {
    throw new InvalidError(
      'DeploymentRollback',
      name,
      unknown.map((k) => ({ field: k, message: 'unknown field', reason: 'FieldValueNotSupported' })),
    );
  }
  if (body.name !== undefined && body.name !== name) {
    throw new BadRequestError(`the name in the body (${JSON.stringify(body.name)}) does not match the name on the URL`);
  }
  const to = body.rollbackTo;
  if (to === undefined) return 0;
  const revision = isRecord(to) ? to.revision : undefined;
  if (revision === undefined && isRecord(to) && Object.keys(to).length === 0) return 0;
  if (!Number.isSafeInteger(revision) || (revision as number) < 0) {
    throw new InvalidError('DeploymentRollback', name, [
      { field: 'rollbackTo.revision', message: 'must be a whole number >= 0', reason: 'FieldValueInvalid' },
    ]);
  }
  return revision as number;
}

async function ownedReplicaSets(store: StateStore, d: Deployment): Promise<ReplicaSet[]> {
  const { items } = await store.list<ReplicaSet>('ReplicaSet', { namespace: d.metadata.namespace as string });
  return items
    .filter((rs) => rs.metadata.ownerReferences?.some((o) => o.controller && o.uid === d.metadata.uid))
    .sort((a, b) => revisionOf(a) - revisionOf(b));
}

/** kubectl's choice: revision 0 is the one before the newest; a named revision must exist. */
function chooseRevision(d: Deployment, sets: ReplicaSet[], toRevision: number): ReplicaSet {
  const name = d.metadata.name;
  if (toRevision === 0) {
    const previous = sets.at(-2);
    if (!previous) throw new BadRequestError(`deployment "${name}" has no previous revision to roll back to`);
    return previous;
  }
  const target = sets.find((rs) => revisionOf(rs) === toRevision);
  if (!target) {
    const known = sets.map(revisionOf).join(', ') || 'none';
    throw new InvalidError('DeploymentRollback', name, [
      {
        field: 'rollbackTo.revision',
        message: `deployment "${name}" has no revision ${toRevision} (revisions: ${known})`,
        reason: 'FieldValueNotFound',
      },
    ]);
  }
  return target;
}

export function revisionOf(rs: ReplicaSet): number {
  return Number(rs.metadata.annotations?.[REVISION_ANNOTATION] ?? 0);
}
