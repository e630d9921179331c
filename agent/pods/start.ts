/**
 * Starting one container instance, as the kubelet's startContainer does: its env (the API's and
 * Service variables, downward API, ConfigMaps/Secrets), its mounts (the ServiceAccount token and
 * the termination message file too), the image pull (with the pod's pull
 * secrets), its securityContext (runAsNonRoot checked against the image), the create and start,
 * then the postStart hook. Each failure leaves the container waiting with the kubelet's reason
 * (CreateContainerConfigError, ErrImagePull/ImagePullBackOff, RunContainerError) and a back-off.
 */
import type { Pod } from '../../schemas/pod';
import { bytes, cpuMillis } from '../../schemas/quantity';
import { isoTime } from '../../schemas/time';
import type { ProbeTarget } from '../probes';
import { type ContainerRuntime, ImagePullFailedError } from '../runtime/types';
import { ConfigNotReadyError, type ConfigSources } from './config-sources';
import { resolvConfMount } from './dns';
import { containerEnv } from './env';
import { runHook } from './hooks';
import type { InClusterApi } from './in-cluster';
import { graceOf, specHash } from './pod-spec';
import { resetProbes } from './probing';
import { registryAuth } from './pull-secrets';
import type { AnyContainer, ContainerRecord, PodRecord } from './record';
import type { Allocatable } from './resource-fields';
import { restartDelayMs } from './restart';
import { securityConfig } from './security';
import { terminationMount } from './termination-message';
import { containerMounts, type VolumeContext } from './volumes';

export interface StartDeps {
  runtime: ContainerRuntime;
  config: ConfigSources;
  now: () => number;
  nodeIp: string;
  backoffBaseMs?: number;
  serviceEnv?: (namespace: string) => { name: string; value: string }[];
  /** The API's variables and the ServiceAccount token mount (in-cluster.ts). */
  inCluster?: InClusterApi;
  volumes: VolumeContext;
  /** Where the postStart hook connects. */
  target: () => ProbeTarget;
  /** The pod's resolv.conf, mounted when it was written (dns.ts). */
  resolvConf?: string;
  /** The node's allocatable resources, for resourceFieldRef of a container without limits. */
  allocatable?: () => Allocatable;
  /** The pod's state dir on the node, where its containers' termination message files live. */
  podDir?: string;
}

export async function startContainer(
  o: StartDeps,
  rec: PodRecord,
  pod: Pod,
  spec: AnyContainer,
  c: ContainerRecord,
): Promise<void> {
  const now = o.now();
  const rt = o.runtime;
  const backOff = (reason: string, message: string) => {
    c.consecutiveFailures++;
    c.nextStartAt = now + restartDelayMs(c.consecutiveFailures + 1, { exitCode: 1, ranForMs: 0 }, o.backoffBaseMs);
    c.state = { waiting: { reason, message } };
  };
  let env: { name: string; value: string }[];
  let mounts: ReturnType<typeof containerMounts>;
  const facts = {
    pod,
    nodeIp: o.nodeIp,
    ...(rec.sandbox?.podIp ? { podIp: rec.sandbox.podIp } : {}),
    ...(o.allocatable ? { allocatable: o.allocatable() } : {}),
  };
  // The projected tokens its volumes' files hold (a failure shows as the volume's error below).
  await o.inCluster?.tokens.ensureProjected(pod);
  try {
    env = containerEnv(o.config, facts, spec, [
      ...(o.inCluster?.env() ?? []),
      ...(pod.spec.enableServiceLinks === false ? [] : (o.serviceEnv?.(pod.metadata.namespace as string) ?? [])),
    ]);
    mounts = containerMounts(o.volumes, spec, env);
    const message = o.podDir ? terminationMount(o.podDir, spec) : undefined;
    if (message) mounts.push(message);
    const token = await o.inCluster?.tokens.mountFor(pod, spec.volumeMounts ?? []);
    if (token) mounts.push(token);
    const resolv = o.resolvConf ? resolvConfMount(o.resolvConf, mounts) : undefined;
    if (resolv) mounts.push(resolv);
  } catch (err) {
    if (!(err instanceof ConfigNotReadyError)) throw err;
    c.state = { waiting: { reason: 'CreateContainerConfigError', message: err.message } };
    c.nextStartAt = now + 10_000;
    return;
  }
  try {
    await rt.ensureImage(spec.image, spec.imagePullPolicy ?? 'IfNotPresent', registryAuth(o.config, pod, spec.image));
  } catch (err) {
    if (!(err instanceof ImagePullFailedError)) throw err;
    const first = !('waiting' in c.state && c.state.waiting.reason.includes('Image'));
    backOff(first ? 'ErrImagePull' : 'ImagePullBackOff', err.message);
    return;
  }
  let security: ReturnType<typeof securityConfig>;
  try {
    security = securityConfig(pod, spec, await rt.imageUser(spec.image));
  } catch (err) {
    if (!(err instanceof ConfigNotReadyError)) throw err;
    c.state = { waiting: { reason: 'CreateContainerConfigError', message: `Error: ${err.message}` } };
    c.nextStartAt = now + 10_000;
    return;
  }
  const restarts = c.lastState ? c.restartCount + 1 : c.restartCount;
  const hash = specHash(spec);
  const limits = spec.resources?.limits ?? {};
  try {
    c.id = await rt.startContainer(rec.identity, rec.sandbox?.id as string, {
      name: spec.name,
      image: spec.image,
      ...(spec.command ? { command: spec.command } : {}),
      ...(spec.args ? { args: spec.args } : {}),
      ...(spec.workingDir ? { workingDir: spec.workingDir } : {}),
      env,
      mounts,
      specHash: hash,
      restartCount: restarts,
      ...(limits.cpu !== undefined ? { cpuMillis: cpuMillis(limits.cpu) } : {}),
      ...(limits.memory !== undefined ? { memoryBytes: bytes(limits.memory) } : {}),
      security,
      ...(pod.spec.shareProcessNamespace ? { sharePid: true } : {}),
      ...(spec.tty ? { tty: true } : {}),
      ...(spec.stdin ? { stdin: true } : {}),
    });
  } catch (err) {
    backOff('RunContainerError', (err as Error).message);
    return;
  }
  c.restartCount = restarts;
  c.specHash = hash;
  c.startedAtMs = now;
  c.state = { running: { startedAt: isoTime(now) } };
  resetProbes(c, spec);
  const postStart = spec.lifecycle?.postStart;
  if (postStart) {
    const result = await runHook(postStart, o.target(), graceOf(pod) * 1000);
    if (!result.ok) c.unhealthy = { reason: 'FailedPostStartHook', message: `PostStartHookError: ${result.message}` };
  }
}
