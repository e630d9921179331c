/**
 * A container's mounts from the pod's volumes: persistentVolumeClaim (the node directory of the
 * claim's volume, claims.ts; `readOnly` on the claim or the mount honoured), emptyDir (a directory under the node's state dir,
 * or with `medium: Memory` a tmpfs volume the sandbox holds so it is shared by the pod's
 * containers and outlives their restarts, sized by `sizeLimit`), hostPath, configMap and secret
 * (files projected by config-sources.ts), downwardAPI and projected (volume-files.ts), all
 * read-only as Kubernetes mounts them; `subPath` and
 * `subPathExpr` (with `$(VAR)` from the container's env) mount one entry of a volume. With the
 * pod's `fsGroup`, volume directories get that group and the setgid bit, as the kubelet's
 * SetVolumeOwnership does. Throws ConfigNotReadyError (the container waits with
 * CreateContainerConfigError) saying what is wrong.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { TokenProjection } from '../../schemas/agent-protocol';
import type { Container, Pod, Volume } from '../../schemas/pod';
import { bytes } from '../../schemas/quantity';
import type { AgentLogger } from '../log';
import type { Mount } from '../runtime/types';
import { ConfigNotReadyError, type ConfigSources, type ConfigVolume, writeVolumeFiles } from './config-sources';
import type { Allocatable } from './resource-fields';
import type { PodTokens } from './service-account';
import { downwardFiles, projectedFiles, type VolumeFacts } from './volume-files';

export interface VolumeContext {
  config: ConfigSources;
  pod: Pod;
  /** The pod's volume directory on the node for `volume`. */
  dir: (volume: string) => string;
  /** The runtime's name of the pod's memory volume `volume`. */
  memoryVolume: (volume: string) => string;
  /** The host directory of a claim of the pod's namespace (claims.ts); throws ConfigNotReadyError until bound here. */
  claimPath: (claimName: string) => string;
  /** The node's allocatable and the pod's projected tokens, for downwardAPI and projected files. */
  facts?: VolumeFacts;
}

/** The node's allocatable and the pod's projected tokens (service-account.ts), for volume files. */
export function volumeFacts(pod: Pod, allocatable?: () => Allocatable, tokens?: PodTokens): VolumeFacts {
  return {
    ...(allocatable ? { allocatable: allocatable() } : {}),
    ...(tokens ? { token: (projection: TokenProjection) => tokens.projectedToken(pod, projection) } : {}),
  };
}

/** The pod's `medium: Memory` emptyDirs, which the sandbox creates and holds. */
export function memoryVolumes(pod: Pod): { name: string; sizeBytes?: number; gid?: number }[] {
  const gid = pod.spec.securityContext?.fsGroup;
  return (pod.spec.volumes ?? [])
    .filter((v) => v.emptyDir?.medium === 'Memory')
    .map((v) => ({
      name: v.name,
      ...(v.emptyDir?.sizeLimit !== undefined ? { sizeBytes: bytes(v.emptyDir.sizeLimit) } : {}),
      ...(gid !== undefined ? { gid } : {}),
    }));
}

export function containerMounts(ctx: VolumeContext, spec: Container, env: { name: string; value: string }[]): Mount[] {
  const out: Mount[] = [];
  const fsGroup = ctx.pod.spec.securityContext?.fsGroup;
  for (const m of spec.volumeMounts ?? []) {
    const vol = ctx.pod.spec.volumes?.find((v) => v.name === m.name);
    if (!vol) continue;
    const sub = m.subPathExpr !== undefined ? expand(m.subPathExpr, env) : m.subPath;
    // Kubernetes mounts these read-only whatever the mount says.
    const projectedKind = vol.configMap ?? vol.secret ?? vol.downwardAPI ?? vol.projected;
    const readOnly =
      (m.readOnly ?? false) || projectedKind !== undefined || vol.persistentVolumeClaim?.readOnly === true;
    if (vol.emptyDir?.medium === 'Memory') {
      if (sub)
        throw new ConfigNotReadyError(`volume ${vol.name}: ferry does not support subPath into a Memory emptyDir yet`);
      out.push({ kind: 'volume', volume: ctx.memoryVolume(vol.name), mountPath: m.mountPath, readOnly });
      continue;
    }
    const root = prepareVolume(ctx, vol, fsGroup);
    if (root === undefined) continue;
    let hostPath = root;
    if (sub) {
      hostPath = inside(root, sub, vol.name);
      // The kubelet creates a missing subPath as a directory.
      if (!existsSync(hostPath)) mkdirSync(hostPath, { recursive: true, mode: 0o777 });
    }
    out.push({ kind: 'bind', hostPath, mountPath: m.mountPath, readOnly });
  }
  return out;
}

/**
 * Prepares the volume's directory on the node; its path (undefined for a volume with none). Run at
 * every container start, and every pass for downwardAPI and projected volumes (their sources change).
 */
export function prepareVolume(ctx: VolumeContext, vol: Volume, fsGroup: number | undefined): string | undefined {
  if (vol.hostPath) return vol.hostPath.path;
  // The claim's directory is the volume's, shared by every pod that mounts the claim; fsGroup
  // makes it the group's as the kubelet's SetVolumeOwnership does (fsGroupChangePolicy honoured).
  if (vol.persistentVolumeClaim) {
    const dir = ctx.claimPath(vol.persistentVolumeClaim.claimName);
    const policy = ctx.pod.spec.securityContext?.fsGroupChangePolicy;
    if (fsGroup !== undefined) ownClaim(dir, fsGroup, policy === 'OnRootMismatch');
    return dir;
  }
  if (vol.emptyDir) {
    const dir = ctx.dir(vol.name);
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      chmodSync(dir, 0o777); // world-writable, as the kubelet makes an emptyDir; not subject to the umask
    }
    if (fsGroup !== undefined) own(dir, fsGroup, 0o2777);
    return dir;
  }
  if (vol.configMap || vol.secret || vol.downwardAPI || vol.projected) {
    const dir = ctx.dir(vol.name);
    projectVolume(ctx, vol, dir);
    if (fsGroup !== undefined) own(dir, fsGroup, 0o2755, true);
    return dir;
  }
  return undefined;
}

/** Writes the files of a configMap, secret, downwardAPI or projected volume (again when called again). */
export function projectVolume(ctx: Pick<VolumeContext, 'config' | 'pod' | 'facts'>, vol: Volume, dir: string): void {
  if (vol.downwardAPI)
    writeVolumeFiles(dir, downwardFiles(ctx.pod, vol.downwardAPI.items ?? [], vol.downwardAPI.defaultMode, ctx.facts));
  else if (vol.projected) writeVolumeFiles(dir, projectedFiles(ctx.config, ctx.pod, vol.projected, ctx.facts));
  else ctx.config.project(ctx.pod.metadata.namespace as string, vol as ConfigVolume, dir);
}

/**
 * A ConfigMap or Secret changed: the configMap and secret volumes of a running pod get the new
 * files in place; on an error the container keeps the files it has (a restart reports it).
 */
export function refreshConfigVolumes(
  config: ConfigSources,
  pod: Pod,
  dirOf: (volume: string) => string,
  log: AgentLogger,
): void {
  for (const vol of pod.spec.volumes ?? []) {
    if (!vol.configMap && !vol.secret) continue;
    try {
      config.project(pod.metadata.namespace as string, vol as ConfigVolume, dirOf(vol.name));
    } catch (err) {
      log.warn('refreshing a volume failed', {
        pod: `${pod.metadata.namespace}/${pod.metadata.name}`,
        volume: vol.name,
        error: String(err),
      });
    }
  }
}

/** Group `gid` on the directory (and, for projected files, every file, group-readable). */
function own(dir: string, gid: number, dirMode: number, files = false): void {
  try {
    chownSync(dir, statSync(dir).uid, gid);
    chmodSync(dir, dirMode);
    if (!files) return;
    for (const entry of readdirSync(dir, { recursive: true }) as string[]) {
      const path = join(dir, entry);
      const st = statSync(path);
      chownSync(path, st.uid, gid);
      chmodSync(path, st.isDirectory() ? dirMode : (st.mode & 0o777) | 0o040);
    }
  } catch (err) {
    throw new ConfigNotReadyError(`setting fsGroup ${gid} on volume: ${(err as Error).message}`);
  }
}

/**
 * fsGroup on a claim's data, as the kubelet does it: every file and directory gets the group, group
 * read-write, directories setgid (so new files keep the group). OnRootMismatch skips the walk when
 * the volume's root already has the group and mode, which matters on a large volume.
 */
function ownClaim(dir: string, gid: number, onRootMismatch: boolean): void {
  try {
    const root = statSync(dir);
    if (onRootMismatch && root.gid === gid && (root.mode & 0o2070) === 0o2070) return;
    const apply = (path: string) => {
      const st = statSync(path);
      chownSync(path, st.uid, gid);
      chmodSync(path, (st.mode & 0o7777) | (st.isDirectory() ? 0o2070 : 0o060));
    };
    apply(dir);
    for (const entry of readdirSync(dir, { recursive: true }) as string[]) apply(join(dir, entry));
  } catch (err) {
    throw new ConfigNotReadyError(`setting fsGroup ${gid} on volume: ${(err as Error).message}`);
  }
}

/** `$(VAR)` from the container's env; an unknown one becomes '' (as the kubelet's expansion does for subPathExpr). */
function expand(expr: string, env: { name: string; value: string }[]): string {
  const vars = new Map(env.map((e) => [e.name, e.value]));
  return expr.replace(/\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (_, name: string) => vars.get(name) ?? '');
}

function inside(root: string, sub: string, volume: string): string {
  const target = join(root, sub);
  const rel = relative(root, target);
  if (sub.startsWith('/') || rel === '..' || rel.startsWith(`..${sep}`))
    throw new ConfigNotReadyError(
      `volume ${volume}: subPath ${JSON.stringify(sub)} must be a relative path inside the volume`,
    );
  return target;
}
