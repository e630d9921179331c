/**
 * ConfigMaps and Secrets on the node: environment variables from them (`env[].valueFrom`,
 * `envFrom`) and their keys as files (configMap and secret volumes), from the copies the control
 * plane sent with the last sync (only those this node's pods refer to).
 *
 * Errors read like the kubelet's (`configmap "web" not found`, `couldn't find key PORT in
 * ConfigMap default/web`): the container waits with CreateContainerConfigError and starts once the
 * object appears. Volume files are rewritten in place (each file written aside and renamed over)
 * when the object changes, so a running container sees the new contents, as in Kubernetes.
 *
 * `kube-root-ca.crt` (the ConfigMap Kubernetes publishes in every namespace, which the standard
 * kube-api-access volume projects) is this node's CA for the API, `rootCa`: the API has no one CA
 * to publish (over plain HTTP each node's relay has its own, agent/relay-cert.ts), so each agent
 * serves its own, the same bytes as the default mount's `ca.crt`, in every namespace.
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import type { ConfigSource } from '../../schemas/agent-protocol';

type KeyRef = { name?: string; key: string; optional?: boolean };

export interface EnvSpec {
  env?: {
    name: string;
    value?: string;
    valueFrom?: { configMapKeyRef?: KeyRef; secretKeyRef?: KeyRef } & Record<string, unknown>;
  }[];
  envFrom?: {
    prefix?: string;
    configMapRef?: { name: string; optional?: boolean };
    secretRef?: { name: string; optional?: boolean };
  }[];
}

export interface ConfigVolume {
  configMap?: { name?: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  secret?: { secretName?: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
}

type KeyToPath = { key: string; path: string; mode?: number };
type Kind = 'ConfigMap' | 'Secret';

/** Kubernetes' default file mode for configMap and secret volumes (0644). */
const DEFAULT_MODE = 0o644;
/** Environment variable names envFrom accepts (others are skipped, as the kubelet does). */
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export class ConfigNotReadyError extends Error {}

const ROOT_CA = 'kube-root-ca.crt';

export class ConfigSources {
  private readonly objects = new Map<string, Map<string, Buffer>>();
  private fingerprint = '';
  /** This node's CA for the API, served as the `kube-root-ca.crt` ConfigMap of every namespace. */
  rootCa: (() => string) | undefined;

  private lookup(kind: Kind, namespace: string, name: string): Map<string, Buffer> | undefined {
    if (kind === 'ConfigMap' && name === ROOT_CA && this.rootCa)
      return new Map([['ca.crt', Buffer.from(this.rootCa(), 'utf8')]]);
    return this.objects.get(`${kind}/${namespace}/${name}`);
  }

  /** Replaces what the node holds; true when anything changed. */
  update(configMaps: ConfigSource[], secrets: ConfigSource[]): boolean {
    const h = createHash('sha256');
    this.objects.clear();
    for (const [kind, list] of [
      ['ConfigMap', configMaps],
      ['Secret', secrets],
    ] as const) {
      for (const src of list) {
        const values = new Map<string, Buffer>();
        for (const [k, v] of Object.entries(src.data ?? {}))
          values.set(k, kind === 'Secret' ? Buffer.from(v, 'base64') : Buffer.from(v, 'utf8'));
        for (const [k, v] of Object.entries(src.binaryData ?? {})) values.set(k, Buffer.from(v, 'base64'));
        this.objects.set(`${kind}/${src.namespace}/${src.name}`, values);
        h.update(`${kind}/${src.namespace}/${src.name}\n`);
        for (const [k, v] of [...values].sort(([a], [b]) => a.localeCompare(b)))
          h.update(`${k}=${v.toString('base64')}\n`);
      }
    }
    const next = h.digest('base64url');
    const changed = next !== this.fingerprint;
    this.fingerprint = next;
    return changed;
  }

  /** One key of a ConfigMap or Secret the node holds (decoded), if present. */
  value(kind: Kind, namespace: string, name: string, key: string): Buffer | undefined {
    return this.lookup(kind, namespace, name)?.get(key);
  }

  /**
   * The variables of `envFrom` then `env` added to `out` (a later one wins, as in Kubernetes);
   * `env` entries with a value or a downward-API field are left to `other`. Throws
   * ConfigNotReadyError naming what is missing.
   */
  env(
    namespace: string,
    spec: EnvSpec,
    other: (e: NonNullable<EnvSpec['env']>[number]) => string,
    out = new Map<string, string>(),
  ): Map<string, string> {
    for (const from of spec.envFrom ?? []) {
      const kind: Kind = from.secretRef ? 'Secret' : 'ConfigMap';
      const ref = from.secretRef ?? from.configMapRef;
      if (!ref) continue;
      const values = this.lookup(kind, namespace, ref.name);
      if (!values) {
        if (ref.optional) continue;
        throw new ConfigNotReadyError(`${kind.toLowerCase()} "${ref.name}" not found`);
      }
      for (const [k, v] of values) {
        const name = `${from.prefix ?? ''}${k}`;
        if (ENV_NAME.test(name)) out.set(name, v.toString('utf8'));
      }
    }
    for (const e of spec.env ?? []) {
      const ref = e.valueFrom?.configMapKeyRef ?? e.valueFrom?.secretKeyRef;
      if (!ref) {
        out.set(e.name, other(e));
        continue;
      }
      const kind: Kind = e.valueFrom?.secretKeyRef ? 'Secret' : 'ConfigMap';
      const values = this.lookup(kind, namespace, ref.name ?? '');
      const value = values?.get(ref.key);
      if (value === undefined) {
        if (ref.optional) continue;
        throw new ConfigNotReadyError(
          values
            ? `couldn't find key ${ref.key} in ${kind} ${namespace}/${ref.name}`
            : `${kind.toLowerCase()} "${ref.name}" not found`,
        );
      }
      out.set(e.name, value.toString('utf8'));
    }
    return out;
  }

  /**
   * Writes a configMap or secret volume's files into `dir` (created 0755), removing files that are
   * no longer projected. An optional volume whose object is missing is empty. Throws
   * ConfigNotReadyError when a required object or item key is missing.
   */
  project(namespace: string, volume: ConfigVolume, dir: string): void {
    const src = volume.secret ?? volume.configMap;
    if (!src) return;
    const name = volume.secret ? volume.secret.secretName : volume.configMap?.name;
    writeVolumeFiles(dir, this.files(namespace, { kind: volume.secret ? 'Secret' : 'ConfigMap', name, ...src }));
  }

  /**
   * The files one ConfigMap or Secret gives a volume (every key, or `items`), with their modes.
   * Throws ConfigNotReadyError when a required object or item key is missing.
   */
  files(namespace: string, src: FileSource, defaultMode = DEFAULT_MODE): VolumeFiles {
    const { kind, name } = src;
    const values = this.lookup(kind, namespace, name ?? '');
    const files: VolumeFiles = new Map();
    const mode = src.defaultMode ?? defaultMode;
    if (!values) {
      if (!src.optional) throw new ConfigNotReadyError(`${kind.toLowerCase()} "${name}" not found`);
    } else if (src.items) {
      for (const item of src.items) {
        const data = values.get(item.key);
        if (data === undefined) {
          if (src.optional) continue;
          throw new ConfigNotReadyError(`couldn't find key ${item.key} in ${kind} ${namespace}/${name}`);
        }
        files.set(item.path, { data, mode: item.mode ?? mode });
      }
    } else {
      for (const [k, data] of values) files.set(k, { data, mode });
    }
    return files;
  }
}

export type VolumeFiles = Map<string, { data: Buffer; mode: number }>;
interface FileSource {
  kind: Kind;
  name?: string | undefined;
  items?: KeyToPath[] | undefined;
  defaultMode?: number | undefined;
  optional?: boolean | undefined;
}

/**
 * Writes a volume's files into `dir` (created 0755), each written aside and renamed over so a
 * reader never sees half a file; an unchanged file is left alone; files no longer projected go.
 */
export function writeVolumeFiles(dir: string, files: VolumeFiles): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const [path, file] of files) {
    const target = join(dir, path);
    // The API validates keys and item paths; this is the node's own guard against a path that escapes.
    const rel = relative(dir, target);
    if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..') throw new ConfigNotReadyError(`bad path ${path}`);
    if (unchanged(target, file)) continue;
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    const aside = `${target}.ferry-tmp`;
    writeFileSync(aside, file.data);
    chmodSync(aside, file.mode); // not subject to the umask, unlike writeFileSync's mode
    renameSync(aside, target);
  }
  removeStale(dir, dir, files);
}

function unchanged(target: string, file: { data: Buffer; mode: number }): boolean {
  try {
    return (statSync(target).mode & 0o7777) === file.mode && readFileSync(target).equals(file.data);
  } catch {
    return false;
  }
}

function removeStale(root: string, dir: string, keep: Map<string, unknown>): void {
  for (const entry of readdirSync(dir)) {
    const full = join(dir, entry);
    const rel = relative(root, full).split(sep).join('/');
    if (statSync(full).isDirectory()) {
      removeStale(root, full, keep);
      if (readdirSync(full).length === 0) rmSync(full, { recursive: true });
    } else if (!keep.has(rel)) {
      rmSync(full, { force: true });
    }
  }
}
