/**
 * PersistentVolumeClaim volumes on the node: where a claim's data lives (the volume the control
 * plane bound it to, from the sync's `volumes`), and the directories of provisioned volumes under
 * `<state dir>/volumes/` (root-owned, mode 0700, so only root and the containers that mount them
 * reach inside; each volume directory 0777 as k3s' local-path makes it, so a non-root container can
 * write). A pod's deletion never touches them: a provisioned directory is removed only once its PV
 * is gone from the list (reclaim policy Delete) and no pod of this node uses it.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeVolume } from '../../schemas/agent-protocol';
import type { Pod } from '../../schemas/pod';
import type { AgentLogger } from '../log';
import { ConfigNotReadyError } from './config-sources';

export class ClaimVolumes {
  private byClaim = new Map<string, NodeVolume>();
  private known: Set<string> | undefined;
  private fingerprint = '';
  /** Claim key -> the provisioned volume last mounted for it (kept while a pod of this node uses it). */
  private readonly mounted = new Map<string, string>();

  constructor(
    private readonly stateDir: string,
    private readonly log: AgentLogger,
  ) {}

  get root(): string {
    return join(this.stateDir, 'volumes');
  }

  /**
   * Takes a sync's list, then sweeps (below) with the pods the node holds; true when it changed
   * what a claim resolves to.
   */
  update(volumes: NodeVolume[], held: (Pod | undefined)[] = [], desired?: Map<string, Pod>): boolean {
    this.known = new Set(volumes.filter((v) => v.provisioned).map((v) => v.name));
    this.byClaim = new Map(volumes.flatMap((v) => (v.claim ? [[v.claim, v] as const] : [])));
    const fingerprint = JSON.stringify([...this.byClaim.entries()].sort());
    const changed = fingerprint !== this.fingerprint;
    this.fingerprint = fingerprint;
    this.sweep(held, desired);
    return changed;
  }

  /** The host directory of the pod's claim; ConfigNotReadyError (the container waits) until it is bound here. */
  pathOf(namespace: string, claimName: string): string {
    const key = `${namespace}/${claimName}`;
    const v = this.byClaim.get(key);
    if (!v)
      throw new ConfigNotReadyError(`persistentvolumeclaim "${claimName}" is not bound to a volume on this node yet`);
    if (v.provisioned) {
      if (!/^[a-z0-9][-a-z0-9.]*$/.test(v.name))
        throw new ConfigNotReadyError(`volume ${JSON.stringify(v.name)}: not a volume name`);
      mkdirSync(this.root, { recursive: true, mode: 0o700 });
      chmodSync(this.root, 0o700);
      const dir = join(this.root, v.name);
      if (!existsSync(dir)) {
        mkdirSync(dir, { mode: 0o777 });
        chmodSync(dir, 0o777); // not subject to the umask
      }
      this.mounted.set(key, v.name);
      return dir;
    }
    const path = v.path ?? '';
    if (!path.startsWith('/')) throw new ConfigNotReadyError(`volume ${v.name}: no path on this node`);
    if (!existsSync(path)) {
      if (!v.create) throw new ConfigNotReadyError(`volume ${v.name}: local path ${path} does not exist on this node`);
      mkdirSync(path, { recursive: true });
    }
    return path;
  }

  /**
   * Removes provisioned directories whose PV is gone. The claims of the pods this node still holds
   * (`held`: its records, `desired`: what the control plane sent) keep theirs whatever the list says.
   */
  sweep(held: (Pod | undefined)[], desired: Map<string, Pod> | undefined): void {
    const inUse = new Set<string>();
    for (const pod of [...held, ...(desired?.values() ?? [])])
      for (const v of pod?.spec.volumes ?? [])
        if (v.persistentVolumeClaim) inUse.add(`${pod?.metadata.namespace}/${v.persistentVolumeClaim.claimName}`);
    if (!this.known || !existsSync(this.root)) return;
    for (const k of [...this.mounted.keys()]) if (!inUse.has(k)) this.mounted.delete(k);
    const used = new Set(this.mounted.values());
    for (const name of readdirSync(this.root)) {
      if (this.known.has(name) || used.has(name) || !name.startsWith('pvc-')) continue;
      try {
        rmSync(join(this.root, name), { recursive: true, force: true });
        this.log.info('removed a deleted volume', { volume: name });
      } catch (err) {
        this.log.warn('removing a deleted volume failed', { volume: name, error: String(err) });
      }
    }
  }
}
