/**
 * The API relay's own TLS identity, for when the API is plain HTTP (`ferry up`): in-cluster
 * clients (client-go's rest.InClusterConfig, client-node's loadFromCluster) always dial https and
 * verify against the mounted `ca.crt`, so the relay terminates TLS with a certificate this node
 * makes for its gateway and forwards plaintext to the API (api-relay.ts).
 *
 * Kept under `<stateDir>/api-relay/` (directory 0700, files 0600): a private CA (`ca.key` never
 * leaves this directory; `ca.crt` is what pods get) and a serving certificate naming the gateway
 * IP, the `kubernetes` Service's cluster IP once the node knows it, and the
 * `kubernetes.default.svc.<cluster domain>` names, as kube-apiserver's certificate does. Both are
 * reused across restarts while valid, so running pods' `ca.crt` stays good; the serving
 * certificate alone is reissued when it expires soon or stops naming one of those, so the CA pods
 * already trust still verifies it.
 *
 * Node has no X.509 creation API: the keys come from node:crypto, the certificates from the
 * `openssl` binary (execFile with an argument list; no shell). Without openssl the relay keeps
 * passing bytes through, and says so once.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AgentLogger } from './log';

const run = promisify(execFile);
const DAY_MS = 86_400_000;
const CA_DAYS = 3650;
const SERVING_DAYS = 365;
/** A certificate this close to its end is replaced at the next check rather than reused. */
const RENEW_WITHIN_MS = 30 * DAY_MS;
/** What the `kubernetes` Service is called from inside a pod (kube-apiserver's default SANs). */
export function apiNames(domain: string): string[] {
  return ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', `kubernetes.default.svc.${domain}`];
}
export const API_NAMES = apiNames('cluster.local');
/** A DNS name as it may go into the openssl config: labels of letters, digits and dashes only. */
const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export interface RelayIdentity {
  /** PEM: the serving certificate, then its key. */
  cert: string;
  key: string;
  /** PEM: the CA pods verify the relay with (their `ca.crt`). */
  ca: string;
}

export interface RelayCertOptions {
  stateDir: string;
  /** The openssl binary (found on PATH when a bare name). */
  openssl: string;
  log: AgentLogger;
  now?: () => number;
  /** The cluster domain (default cluster.local): the certificate names `kubernetes.default.svc.<domain>`. */
  domain?: string;
  /** More addresses to name, read at each issue: the `kubernetes` Service's cluster IP once known. */
  serviceIPs?: () => string[];
}

export class RelayCertificates {
  private unavailable = false;
  private current: RelayIdentity | undefined;

  constructor(private readonly o: RelayCertOptions) {}

  private get dir(): string {
    return join(this.o.stateDir, 'api-relay');
  }

  /** The CA pods get as `ca.crt` ('' until an identity was made). */
  caCert(): string {
    return this.current?.ca ?? '';
  }

  /**
   * The identity for this gateway address: the stored one when still good for it, else a new
   * serving certificate (and a new CA when that is missing or ending). Undefined when openssl is
   * missing or fails: the caller passes plaintext through.
   */
  async forGateway(ip: string): Promise<RelayIdentity | undefined> {
    const ips = [ip, ...(this.o.serviceIPs?.() ?? []).filter((x) => x !== ip)];
    for (const x of ips) if (isIP(x) === 0) throw new Error(`api relay certificate: "${x}" is not an IP address`);
    const names = apiNames(this.o.domain ?? 'cluster.local');
    for (const n of names) if (!DNS_NAME.test(n)) throw new Error(`api relay certificate: "${n}" is not a DNS name`);
    if (this.unavailable) return undefined;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
    try {
      const ca = this.usableCa() ?? (await this.makeCa());
      const serving = this.usableServing(ca, ips, names) ?? (await this.makeServing(ips, names));
      this.current = { cert: serving.cert, key: serving.key, ca: ca.cert };
      return this.current;
    } catch (err) {
      this.unavailable = true;
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      const why = e.code === 'ENOENT' ? `${this.o.openssl} not found` : (e.stderr || e.message).trim().split('\n')[0];
      this.o.log.warn(
        'api relay: cannot make its TLS certificate; passing plain HTTP through, so in-cluster clients that dial https will fail (install openssl on the node)',
        { error: why },
      );
      return undefined;
    }
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private read(name: string): string | undefined {
    const file = join(this.dir, name);
    return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  }

  /** Written beside, then renamed over, so a crash never leaves half a file to reuse. */
  private write(name: string, content: string): void {
    const tmp = join(this.dir, `.${name}.tmp`);
    writeFileSync(tmp, content, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, join(this.dir, name));
  }

  /** Stored, matching its key, and not ending before a serving certificate issued now would. */
  private usableCa(): { cert: string; key: string } | undefined {
    const cert = this.read('ca.crt');
    const key = this.read('ca.key');
    if (!cert || !key) return undefined;
    const x = parse(cert);
    if (!x?.ca || !x.checkPrivateKey(createPrivateKey(key))) return undefined;
    if (Date.parse(x.validTo) - this.now() < (SERVING_DAYS + 30) * DAY_MS) return undefined;
    return { cert, key };
  }

  private usableServing(
    ca: { cert: string },
    ips: string[],
    names: string[],
  ): { cert: string; key: string } | undefined {
    const cert = this.read('tls.crt');
    const key = this.read('tls.key');
    if (!cert || !key) return undefined;
    const x = parse(cert);
    const issuer = parse(ca.cert);
    if (!x || !issuer || !x.checkIssued(issuer) || !x.verify(issuer.publicKey)) return undefined;
    if (!x.checkPrivateKey(createPrivateKey(key))) return undefined;
    if (ips.some((ip) => x.checkIP(ip) === undefined) || names.some((n) => x.checkHost(n) === undefined))
      return undefined;
    if (Date.parse(x.validTo) - this.now() < RENEW_WITHIN_MS) return undefined;
    return { cert, key };
  }

  private async makeCa(): Promise<{ cert: string; key: string }> {
    const key = newKey();
    const cert = await this.openssl((work) => {
      writeFileSync(join(work, 'key.pem'), key, { mode: 0o600 });
      writeFileSync(join(work, 'openssl.cnf'), config([], []));
      return [
        ['req', '-config', join(work, 'openssl.cnf'), '-x509', '-new', '-key', join(work, 'key.pem')]
          .concat(['-subj', '/CN=ferry-api-relay-ca', '-days', String(CA_DAYS), '-sha256', '-extensions', 'ca'])
          .concat(['-out', join(work, 'out.pem')]),
      ];
    });
    this.write('ca.key', key);
    this.write('ca.crt', cert);
    // A new CA: the serving certificate signed by the old one goes with it.
    rmSync(join(this.dir, 'tls.crt'), { force: true });
    this.o.log.info('api relay: made a new private CA for pods to verify it with', {});
    return { cert, key };
  }

  private async makeServing(ips: string[], names: string[]): Promise<{ cert: string; key: string }> {
    const key = newKey();
    const caKey = this.read('ca.key') as string;
    const caCert = this.read('ca.crt') as string;
    const cert = await this.openssl((work) => {
      const at = (name: string) => join(work, name);
      writeFileSync(at('key.pem'), key, { mode: 0o600 });
      writeFileSync(at('ca.key'), caKey, { mode: 0o600 });
      writeFileSync(at('ca.crt'), caCert);
      writeFileSync(at('openssl.cnf'), config(ips, names));
      return [
        ['req', '-config', at('openssl.cnf'), '-new', '-key', at('key.pem'), '-subj', '/CN=kubernetes'].concat([
          '-out',
          at('csr.pem'),
        ]),
        ['x509', '-req', '-in', at('csr.pem'), '-CA', at('ca.crt'), '-CAkey', at('ca.key')]
          .concat(['-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', String(SERVING_DAYS), '-sha256'])
          .concat(['-extfile', at('openssl.cnf'), '-extensions', 'serving', '-out', at('out.pem')]),
      ];
    });
    this.write('tls.key', key);
    this.write('tls.crt', cert);
    this.o.log.info('api relay: issued its serving certificate', { ips: ips.join(','), names: names.join(',') });
    return { cert, key };
  }

  /** Runs the openssl steps in a private scratch directory and returns `out.pem`. */
  private async openssl(steps: (work: string) => string[][]): Promise<string> {
    const work = mkdtempSync(join(this.dir, '.work-'));
    try {
      for (const args of steps(work)) await run(this.o.openssl, args, { timeout: 30_000 });
      return readFileSync(join(work, 'out.pem'), 'utf8');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
}

function newKey(): string {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
}

function parse(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/**
 * The extensions strict verifiers want (Python's VERIFY_X509_STRICT, Go): a CA marked as one with
 * keyCertSign and a subject key id; the serving certificate with serverAuth and the issuer's key id.
 */
function config(ips: string[], dnsNames: string[]): string {
  const names = [...ips.map((ip) => `IP:${ip}`), ...dnsNames.map((n) => `DNS:${n}`)].join(',');
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    'CN = ferry-api-relay',
    '[ca]',
    'basicConstraints = critical,CA:TRUE',
    'keyUsage = critical,keyCertSign,cRLSign',
    'subjectKeyIdentifier = hash',
    '[serving]',
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature',
    'extendedKeyUsage = serverAuth',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
    ...(ips.length > 0 ? [`subjectAltName = ${names}`] : []),
    '',
  ].join('\n');
}
