/**
 * TLS for the built-in ingress: which certificate a connection gets from its SNI name (`spec.tls`
 * hosts: an exact name first, then a `*.foo.com` entry covering one label, then an entry without
 * hosts), and the SecureContexts made from them, built once per certificate and held in memory
 * only: keys are never written to disk nor logged.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import type { IngressCert } from '../../schemas/agent-protocol';
import { normalizeHost } from './match';

/** The entry serving `servername`, or undefined (the handshake is refused). Earlier entries win ties. */
export function certFor(certs: readonly IngressCert[], servername: string | undefined): IngressCert | undefined {
  const host = normalizeHost(servername);
  if (host) {
    const exact = certs.find((c) => c.hosts.some((h) => h.toLowerCase() === host));
    if (exact) return exact;
    const dot = host.indexOf('.');
    if (dot > 0) {
      const wildcard = `*${host.slice(dot)}`;
      const wild = certs.find((c) => c.hosts.some((h) => h.toLowerCase() === wildcard));
      if (wild) return wild;
    }
  }
  return certs.find((c) => c.hosts.length === 0);
}

export class CertificateStore {
  private certs: IngressCert[] = [];
  private readonly contexts = new Map<string, SecureContext>();

  constructor(private readonly onBadCertificate: (ingress: string, error: string) => void = () => {}) {}

  /** Replaces the certificates; contexts of unchanged ones are kept. A bad pair is dropped, and said. */
  set(certs: readonly IngressCert[]): void {
    const wanted = new Map<string, SecureContext>();
    const usable: IngressCert[] = [];
    for (const c of certs) {
      const k = keyOf(c);
      let ctx = this.contexts.get(k) ?? wanted.get(k);
      if (!ctx) {
        try {
          ctx = createSecureContext({ cert: c.cert, key: c.key });
        } catch (err) {
          // The message names the ingress and OpenSSL's reason, never the key's bytes.
          this.onBadCertificate(c.ingress, String((err as Error).message).slice(0, 200));
          continue;
        }
      }
      wanted.set(k, ctx);
      usable.push(c);
    }
    this.certs = usable;
    this.contexts.clear();
    for (const [k, ctx] of wanted) this.contexts.set(k, ctx);
  }

  get size(): number {
    return this.certs.length;
  }

  /** What `tls.createServer`'s SNICallback needs. */
  contextFor(servername: string | undefined): SecureContext | undefined {
    const c = certFor(this.certs, servername);
    return c ? this.contexts.get(keyOf(c)) : undefined;
  }
}

function keyOf(c: IngressCert): string {
  return `${c.cert}\u0000${c.key}`;
}
