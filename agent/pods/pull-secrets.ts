/**
 * imagePullSecrets: the pod's `kubernetes.io/dockerconfigjson` Secrets (delivered to the node like
 * every Secret its pods refer to) turned into registry credentials for the image's registry, in
 * the pod's order, as the kubelet's keyring matches them. They live in memory only: passed to the
 * engine's pull in a header, never written to disk or logged.
 */
import type { Pod } from '../../schemas/pod';
import type { RegistryAuth } from '../runtime/types';
import type { ConfigSources } from './config-sources';

interface DockerConfigJson {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
}

export function registryAuth(config: ConfigSources, pod: Pod, image: string): RegistryAuth[] {
  const registry = registryOf(image);
  const out: RegistryAuth[] = [];
  for (const ref of pod.spec.imagePullSecrets ?? []) {
    const raw = config.value('Secret', pod.metadata.namespace as string, ref.name, '.dockerconfigjson');
    if (!raw) continue; // a missing pull secret is skipped, as the kubelet does (the pull may still work)
    let parsed: DockerConfigJson;
    try {
      parsed = JSON.parse(raw.toString('utf8')) as DockerConfigJson;
    } catch {
      continue;
    }
    for (const [server, entry] of Object.entries(parsed.auths ?? {})) {
      if (registryOf(`${server.replace(/^https?:\/\//, '').replace(/\/.*$/, '')}/x`) !== registry) continue;
      let { username, password } = entry;
      if ((!username || !password) && entry.auth) {
        const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = plain.indexOf(':');
        if (colon > 0) [username, password] = [plain.slice(0, colon), plain.slice(colon + 1)];
      }
      out.push({ serveraddress: server, ...(username ? { username } : {}), ...(password ? { password } : {}) });
    }
  }
  return out;
}

/** The registry host of an image reference; Docker Hub for names without one. */
export function registryOf(image: string): string {
  const first = image.split('/')[0] ?? '';
  const host =
    image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}
