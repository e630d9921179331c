/**
 * The user-data script that turns a fresh cloud VM into a ferry node: it installs Docker if the
 * image lacks it and runs the agent as a container with the Docker socket mounted (agent/README).
 * Every cloud adapter passes this same script (EC2 UserData, GCP `user-data` metadata, Azure
 * customData); cloud-init runs it once as root on first boot.
 *
 * Values never reach the shell unquoted: the agent's settings go into an env file written through a
 * quoted heredoc (no expansion), which `docker run --env-file` reads literally; the image and paths
 * are single-quoted. Values with newlines or NUL bytes are refused, since they could end the heredoc
 * or an env-file line.
 *
 * Quoting keeps a value from the shell; some values reach other readers too, and each is checked
 * for those: node labels become one `k=v,k=v` list the agent splits (a `,` or `=` in a value would
 * add a label), so keys must be qualified names and values label values, as Kubernetes has them;
 * the image becomes an argument of `docker run`, where a value starting with `-` would be read as a
 * flag, so it must be an image reference; the node name is a DNS subdomain, and so is the cluster
 * domain (the agent refuses anything else at start, which would leave the machine without a node).
 */
import { isClusterDomain } from '../schemas/cluster-domain';
import type { InstanceSpec } from './types';

export const DEFAULT_AGENT_IMAGE = 'ghcr.io/ferry-dev/ferry-agent:0.1.0';

export interface UserDataOptions {
  /** The agent's container image (a Cloud's `spec.options.agentImage`). */
  agentImage?: string;
  /**
   * More agent settings for the env file (a Cloud's `spec.options.agentEnv`), e.g.
   * FERRY_SANDBOX_IMAGE or FERRY_LOG_LEVEL; the ones above take precedence.
   */
  env?: Record<string, string>;
  /** Where the env file and the agent's state live; tests point these into a temp dir. */
  etcDir?: string;
  stateDir?: string;
}

export class UserDataError extends Error {}

const QUALIFIED_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Docker's reference grammar, loosely: `[host[:port]/]path[:tag][@digest]`, starting with a letter or digit. */
const IMAGE_REFERENCE = /^[A-Za-z0-9][A-Za-z0-9._\-/:]*(@[A-Za-z0-9]+:[A-Fa-f0-9]{32,})?$/;

/** Refuses what would change meaning where a value is read: a label list, a docker argument, a node name. */
function checkValues(spec: InstanceSpec, image: string): void {
  for (const [k, v] of Object.entries(spec.bootstrap.labels)) {
    const name = k.includes('/') ? k.slice(k.indexOf('/') + 1) : k;
    if (!QUALIFIED_NAME.test(k) || name.length > 63 || k.length > 317)
      throw new UserDataError(`user-data: node label key ${JSON.stringify(k)} is not a qualified name`);
    if (v.length > 63 || !LABEL_VALUE.test(v))
      throw new UserDataError(
        `user-data: node label ${k} has the value ${JSON.stringify(v)}, which is not a label value`,
      );
  }
  if (image.length > 512 || !IMAGE_REFERENCE.test(image))
    throw new UserDataError(`user-data: agentImage ${JSON.stringify(image)} is not an image reference`);
  if (spec.name.length > 253 || !DNS_SUBDOMAIN.test(spec.name))
    throw new UserDataError(`user-data: node name ${JSON.stringify(spec.name)} is not a DNS subdomain`);
  const domain = spec.bootstrap.clusterDomain;
  if (domain !== undefined && !isClusterDomain(domain))
    throw new UserDataError(
      `user-data: cluster domain ${JSON.stringify(domain)} is not a DNS domain such as cluster.local`,
    );
}

/** POSIX shell single-quoting: the value comes back byte for byte, whatever it holds. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

export function userData(spec: InstanceSpec, options: UserDataOptions = {}): string {
  const etc = options.etcDir ?? '/etc/ferry';
  const state = options.stateDir ?? '/var/lib/ferry-agent';
  const image = options.agentImage ?? DEFAULT_AGENT_IMAGE;
  const env: Record<string, string> = {
    ...options.env,
    FERRY_API_URL: spec.bootstrap.apiUrl,
    FERRY_TOKEN: spec.bootstrap.token,
    FERRY_NODE_NAME: spec.name,
    FERRY_NODE_LABELS: Object.entries(spec.bootstrap.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    FERRY_STATE_DIR: state,
    // The server's domain over a Cloud's agentEnv: every node of the cluster serves the same names.
    ...(spec.bootstrap.clusterDomain !== undefined ? { FERRY_CLUSTER_DOMAIN: spec.bootstrap.clusterDomain } : {}),
  };
  for (const [key, value] of [...Object.entries(env), ['agentImage', image] as const]) {
    if (/[\n\r\0]/.test(value)) throw new UserDataError(`user-data: ${key} may not contain a newline or NUL byte`);
  }
  checkValues(spec, image);
  for (const key of Object.keys(env)) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(key))
      throw new UserDataError(`user-data: ${JSON.stringify(key)} is not an env var name`);
  }
  const envFile = `${etc}/agent.env`;
  return [
    '#!/bin/bash',
    '# ferry node bootstrap, generated by the control plane: install Docker, start the ferry agent.',
    'set -euo pipefail',
    `install -d -m 0700 ${shellQuote(etc)} ${shellQuote(state)}`,
    'umask 077',
    `cat > ${shellQuote(envFile)} <<'FERRY_AGENT_ENV'`,
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    'FERRY_AGENT_ENV',
    'if ! command -v docker >/dev/null 2>&1; then',
    '  if command -v apt-get >/dev/null 2>&1; then',
    '    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io',
    '  elif command -v dnf >/dev/null 2>&1; then',
    '    dnf install -y -q docker',
    '  elif command -v yum >/dev/null 2>&1; then',
    '    yum install -y -q docker',
    '  fi',
    '  systemctl enable --now docker',
    'fi',
    'docker rm -f ferry-agent >/dev/null 2>&1 || true',
    [
      // NET_ADMIN in the host's network namespace: the agent's nat rules for cluster IPs.
      'docker run -d --name ferry-agent --restart=always --network host --cap-add NET_ADMIN',
      `--env-file ${shellQuote(envFile)}`,
      '-v /var/run/docker.sock:/var/run/docker.sock',
      `-v ${shellQuote(`${state}:${state}`)}`,
      shellQuote(image),
    ].join(' '),
    '',
  ].join('\n');
}

/** The Cloud options the user-data takes (every provider's): `agentImage` and `agentEnv`. */
export function userDataOptions(options: Record<string, unknown>): UserDataOptions {
  const out: UserDataOptions = {};
  const image = stringOption(options, 'agentImage');
  if (image) out.agentImage = image;
  const env = options.agentEnv;
  if (env && typeof env === 'object' && !Array.isArray(env)) {
    out.env = Object.fromEntries(Object.entries(env as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
  }
  return out;
}

export function stringOption(options: Record<string, unknown>, key: string): string | undefined {
  const v = options[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}
