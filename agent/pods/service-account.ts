/**
 * A pod's ServiceAccount token on the node, as the kubelet mounts it: the files `token`,
 * `ca.crt` and `namespace` in one directory per pod (under the agent's state dir, mode 0644 as
 * Kubernetes' kube-api-access volume), bind-mounted read-only at
 * /var/run/secrets/kubernetes.io/serviceaccount into every container that does not mount that
 * path itself.
 *
 * The token comes from the API (`POST /agent/v1/token`, only for pods bound to this node); the
 * agent asks again once 80% of its life has passed (the kubelet's rule) and rewrites the file in
 * place (a new file renamed over the old one, so a reader never sees half a token). A pod that
 * says `automountServiceAccountToken: false` is not asked for; one whose ServiceAccount says so
 * gets `automount: false` from the API. The token is never logged.
 *
 * A `serviceAccountToken` projected volume source gets its own token (its audience and
 * expirationSeconds, asked of the API with the projection named), held here in memory and written
 * with the volume's other files (volume-files.ts); it is renewed at 80% of its life too, and the
 * running container sees the new file. The same CA serves the `kube-root-ca.crt` ConfigMap the
 * standard kube-api-access volume projects (config-sources.ts).
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PodRef, PodTokenResponse, TokenProjection } from '../../schemas/agent-protocol';
import type { Pod } from '../../schemas/pod';
import type { AgentLogger } from '../log';
import type { Mount } from '../runtime/types';
import { ConfigNotReadyError } from './config-sources';

export const SERVICE_ACCOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The kubelet renews a token once this share of its life has passed. */
const RENEW_AT = 0.8;
/** A projection whose token could not be fetched is asked for again after this long. */
const RETRY_MS = 10_000;

export interface PodTokensOptions {
  stateDir: string;
  fetch: (pod: PodRef, projection?: TokenProjection) => Promise<PodTokenResponse>;
  /** The CA a client verifies the API with (the agent's own trust), or '' when the API is plain HTTP. */
  caCert: () => string;
  now: () => number;
  log: AgentLogger;
}

interface Held {
  dir: string;
  renewAt: number;
  expiresAt: number;
}

interface HeldProjection {
  token?: string;
  renewAt: number;
  expiresAt: number;
  /** Why there is no token yet (the last fetch's error). */
  error?: string;
}

const projectionKey = (p: TokenProjection) => `${p.audience ?? ''}\n${p.expirationSeconds ?? 3600}`;

export class PodTokens {
  private readonly held = new Map<string, Held | 'none'>();
  /** Per pod uid, per projection (audience and life): its current token. */
  private readonly projections = new Map<string, Map<string, HeldProjection>>();

  constructor(private readonly o: PodTokensOptions) {}

  /** The CA pods verify the API with (the default mount's `ca.crt`, the `kube-root-ca.crt` ConfigMap). */
  caCert(): string {
    return this.o.caCert();
  }

  /**
   * Fetches the token of each of the pod's serviceAccountToken projections that has none yet or
   * is due for renewal (80% of its life). A failure is kept for projectedToken to report while
   * there is no token, and logged while an unexpired one stays.
   */
  async ensureProjected(pod: Pod): Promise<void> {
    const wanted = tokenProjections(pod);
    if (wanted.length === 0) return;
    const uid = pod.metadata.uid as string;
    const held = this.projections.get(uid) ?? new Map<string, HeldProjection>();
    this.projections.set(uid, held);
    const ref = { namespace: pod.metadata.namespace as string, name: pod.metadata.name, uid };
    for (const projection of wanted) {
      const key = projectionKey(projection);
      const current = held.get(key);
      const now = this.o.now();
      // renewAt is also when a failed fetch is tried again, so a failing API is asked every 10 s, not every pass.
      if (current && now < current.renewAt) continue;
      try {
        const answer = await this.o.fetch(ref, projection);
        if (!answer.automount) throw new Error('the API issued no token for this projection');
        const expiresAt = Date.parse(answer.expirationTimestamp);
        held.set(key, { token: answer.token, expiresAt, renewAt: now + (expiresAt - now) * RENEW_AT });
      } catch (err) {
        const error = (err as Error).message;
        if (current?.token && now < current.expiresAt) {
          current.renewAt = now + RETRY_MS;
          this.o.log.warn('renewing a projected token failed; the current one stays until it expires', {
            pod: `${ref.namespace}/${ref.name}`,
            secondsLeft: Math.round((current.expiresAt - now) / 1000),
            error,
          });
        } else held.set(key, { renewAt: now + RETRY_MS, expiresAt: 0, error });
      }
    }
  }

  /** The token for one projection; ConfigNotReadyError (the container waits) while there is none. */
  projectedToken(pod: Pod, projection: TokenProjection): string {
    const held = this.projections.get(pod.metadata.uid as string)?.get(projectionKey(projection));
    if (held?.token && this.o.now() < held.expiresAt) return held.token;
    throw new ConfigNotReadyError(
      `serviceAccountToken ${projection.audience ?? ''}: ${held?.error ?? 'not issued yet'}`,
    );
  }

  /**
   * The mount for one container: undefined when the pod mounts no token (or the container mounts
   * the path itself). Throws ConfigNotReadyError while the API will not give one yet.
   */
  async mountFor(pod: Pod, containerMounts: readonly { mountPath: string }[]): Promise<Mount | undefined> {
    if (pod.spec.automountServiceAccountToken === false) return undefined;
    if (containerMounts.some((m) => m.mountPath.replace(/\/+$/, '') === SERVICE_ACCOUNT_PATH)) return undefined;
    const uid = pod.metadata.uid as string;
    let held = this.held.get(uid);
    if (held === undefined) {
      try {
        held = await this.fetch(pod);
      } catch (err) {
        throw new ConfigNotReadyError(`serviceaccount token: ${(err as Error).message}`);
      }
    }
    if (held === 'none') return undefined;
    return { kind: 'bind', hostPath: held.dir, mountPath: SERVICE_ACCOUNT_PATH, readOnly: true };
  }

  /**
   * Renews the pod's token when due, and after an agent restart (the running containers mount a
   * token this agent has not seen: renewed at once); a failure is logged and retried next sync.
   */
  async refresh(pod: Pod): Promise<void> {
    const uid = pod.metadata.uid as string;
    const held = this.held.get(uid);
    if (held === 'none') return;
    if (held === undefined && !existsSync(join(this.dirOf(uid), 'token'))) return;
    if (held !== undefined && this.o.now() < held.renewAt) return;
    try {
      await this.fetch(pod);
    } catch (err) {
      const left = held ? Math.max(0, Math.round((held.expiresAt - this.o.now()) / 1000)) : 'unknown';
      this.o.log.warn('renewing a pod token failed; the current one stays until it expires', {
        pod: `${pod.metadata.namespace}/${pod.metadata.name}`,
        secondsLeft: left,
        error: (err as Error).message,
      });
    }
  }

  /** The pod is gone from this node (its directory goes with the pod's state dir). */
  forget(uid: string): void {
    this.held.delete(uid);
    this.projections.delete(uid);
  }

  private dirOf(uid: string): string {
    return join(this.o.stateDir, 'pods', uid, 'serviceaccount');
  }

  private async fetch(pod: Pod): Promise<Held | 'none'> {
    const ref = {
      namespace: pod.metadata.namespace as string,
      name: pod.metadata.name,
      uid: pod.metadata.uid as string,
    };
    const answer = await this.o.fetch(ref);
    if (!answer.automount) {
      this.held.set(ref.uid, 'none');
      return 'none';
    }
    const dir = this.dirOf(ref.uid);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    write(dir, 'token', answer.token);
    write(dir, 'ca.crt', this.o.caCert());
    write(dir, 'namespace', answer.namespace);
    const now = this.o.now();
    const expiresAt = Date.parse(answer.expirationTimestamp);
    const held: Held = { dir, expiresAt, renewAt: now + (expiresAt - now) * RENEW_AT };
    this.held.set(ref.uid, held);
    return held;
  }
}

/** Written beside, then renamed over: a container reading the file sees the old or the new one whole. */
function write(dir: string, name: string, content: string): void {
  const tmp = join(dir, `.${name}.tmp`);
  writeFileSync(tmp, content, { mode: 0o644 });
  renameSync(tmp, join(dir, name));
}

/** The pod's distinct serviceAccountToken projections (audience and expirationSeconds). */
function tokenProjections(pod: Pod): TokenProjection[] {
  const out = new Map<string, TokenProjection>();
  for (const v of pod.spec.volumes ?? [])
    for (const src of v.projected?.sources ?? []) {
      const t = src.serviceAccountToken;
      if (!t) continue;
      const projection: TokenProjection = {
        ...(t.audience ? { audience: t.audience } : {}),
        ...(t.expirationSeconds !== undefined ? { expirationSeconds: t.expirationSeconds } : {}),
      };
      out.set(projectionKey(projection), projection);
    }
  return [...out.values()];
}
