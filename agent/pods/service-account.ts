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
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PodRef, PodTokenResponse } from '../../schemas/agent-protocol';
import type { Pod } from '../../schemas/pod';
import type { AgentLogger } from '../log';
import type { Mount } from '../runtime/types';
import { ConfigNotReadyError } from './config-sources';

export const SERVICE_ACCOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The kubelet renews a token once this share of its life has passed. */
const RENEW_AT = 0.8;

export interface PodTokensOptions {
  stateDir: string;
  fetch: (pod: PodRef) => Promise<PodTokenResponse>;
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

export class PodTokens {
  private readonly held = new Map<string, Held | 'none'>();

  constructor(private readonly o: PodTokensOptions) {}

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
