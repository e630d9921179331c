/**
 * The API relay over a plain-HTTP API (`ferry up`): it terminates TLS with a certificate the node
 * makes (openssl) so in-cluster clients that always dial https, verifying with the mounted
 * `ca.crt`, reach the API; the CA key never leaves the agent's state dir; the identity survives a
 * restart; and without openssl the relay passes bytes through as before.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiRelay } from '../../../agent/api-relay';
import { PodTokens } from '../../../agent/pods/service-account';
import { API_NAMES, apiNames, RelayCertificates } from '../../../agent/relay-cert';
import type { Pod } from '../../../schemas/pod';
import { pod as podOf } from './pod-harness';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const DAY = 86_400_000;

function recordingLog() {
  const warnings: string[] = [];
  return { log: { ...quiet, warn: (msg: string) => void warnings.push(msg) }, warnings };
}

/** GETs `path` over https from the relay, verifying its certificate with `ca` only. */
function httpsGet(port: number, path: string, ca: string, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        ca,
        agent: false,
        headers: { authorization: 'Bearer pod-token' },
        ...(servername ? { servername } : {}),
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('the API relay in front of a plain-HTTP API', () => {
  let api: Server | undefined;
  const relays: ApiRelay[] = [];
  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.close()));
    await new Promise<void>((r) => (api ? api.close(() => r()) : r()));
    api = undefined;
  });

  async function startApi(): Promise<string> {
    api = createServer((req, res) => res.end(`${req.url} ${req.headers.authorization}`));
    await new Promise<void>((r) => api?.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(api.address() as { port: number }).port}`;
  }

  async function relayWith(certs: RelayCertificates, apiUrl: string) {
    const relay = new ApiRelay(apiUrl, quiet, (host) => certs.forGateway(host));
    relays.push(relay);
    await relay.listen('127.0.0.1', 0);
    const vars = Object.fromEntries(relay.env().map((e) => [e.name, e.value]));
    return { relay, vars, port: Number(vars.KUBERNETES_SERVICE_PORT) };
  }

  it("serves https that verifies with the pod's mounted ca.crt, and forwards the request with its Authorization header", async () => {
    // prepare
    const stateDir = mkdtempSync(join(tmpdir(), 'ferry-relay-'));
    const certs = new RelayCertificates({ stateDir, openssl: '/usr/bin/openssl', log: quiet });
    const { vars, port, relay } = await relayWith(certs, await startApi());
    const tokens = new PodTokens({
      stateDir,
      fetch: async () => ({
        automount: true,
        token: 't',
        expirationTimestamp: new Date(Date.now() + 3600_000).toISOString(),
        namespace: 'team',
      }),
      caCert: () => certs.caCert(),
      now: Date.now,
      log: quiet,
    });
    const mount = await tokens.mountFor(podOf({}, { namespace: 'team' }) as unknown as Pod, []);
    const caCrt = readFileSync(join(mount?.kind === 'bind' ? mount.hostPath : '', 'ca.crt'), 'utf8');

    // act
    const byIp = await httpsGet(port, '/api/v1/namespaces/team/pods', caCrt);
    const byName = await httpsGet(port, '/version', caCrt, 'kubernetes.default.svc');

    // assess
    expect(relay.terminatesTls).toBe(true);
    expect(vars.KUBERNETES_SERVICE_HOST).toBe('127.0.0.1');
    expect(byIp).toBe('/api/v1/namespaces/team/pods Bearer pod-token');
    expect(byName).toBe('/version Bearer pod-token');
    expect(caCrt).toContain('BEGIN CERTIFICATE');
    expect(caCrt).not.toContain('PRIVATE KEY');
  });

  it("tells pods the kubernetes Service's cluster IP and port 443 once it serves them, over its own TLS only", async () => {
    // prepare
    const stateDir = mkdtempSync(join(tmpdir(), 'ferry-relay-'));
    const certs = new RelayCertificates({ stateDir, openssl: 'openssl', log: quiet });
    const { relay, port } = await relayWith(certs, await startApi());
    const plain = new ApiRelay('https://127.0.0.1:1', quiet);
    relays.push(plain);
    await plain.listen('127.0.0.1', 0);

    // act
    relay.serveService({ host: '10.96.0.1', port: 443 });
    plain.serveService({ host: '10.96.0.1', port: 443 });
    const vars = Object.fromEntries(relay.env().map((e) => [e.name, e.value]));
    const passVars = Object.fromEntries(plain.env().map((e) => [e.name, e.value]));
    relay.serveService(undefined);
    const back = Object.fromEntries(relay.env().map((e) => [e.name, e.value]));

    // assess
    expect(vars).toMatchObject({
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      KUBERNETES_SERVICE_PORT: '443',
      KUBERNETES_SERVICE_PORT_HTTPS: '443',
      KUBERNETES_PORT: 'tcp://10.96.0.1:443',
      KUBERNETES_PORT_443_TCP_ADDR: '10.96.0.1',
    });
    // An API's own certificate does not name the cluster IP: pods keep dialling the relay.
    expect(passVars.KUBERNETES_SERVICE_HOST).toBe('127.0.0.1');
    expect(back).toMatchObject({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(port) });
    expect(relay.address).toEqual({ host: '127.0.0.1', port });
  });

  it('still passes a plain http:// request through on the same port', async () => {
    // prepare
    const certs = new RelayCertificates({
      stateDir: mkdtempSync(join(tmpdir(), 'ferry-relay-')),
      openssl: 'openssl',
      log: quiet,
    });
    const { port } = await relayWith(certs, await startApi());

    // act
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { authorization: 'Bearer x' } });

    // assess
    expect(await res.text()).toBe('/healthz Bearer x');
  });

  it('refuses a client that trusts another CA', async () => {
    // prepare
    const certs = new RelayCertificates({
      stateDir: mkdtempSync(join(tmpdir(), 'ferry-relay-')),
      openssl: 'openssl',
      log: quiet,
    });
    const other = new RelayCertificates({
      stateDir: mkdtempSync(join(tmpdir(), 'ferry-relay-')),
      openssl: 'openssl',
      log: quiet,
    });
    const { port } = await relayWith(certs, await startApi());
    const foreignCa = (await other.forGateway('127.0.0.1'))?.ca as string;

    // act
    const answer = httpsGet(port, '/version', foreignCa);

    // assess
    await expect(answer).rejects.toThrow(/certificate/i);
  });

  it('serves a reissued certificate to new connections once the old one nears its end', async () => {
    // prepare
    const now = { ms: Date.now() };
    const certs = new RelayCertificates({
      stateDir: mkdtempSync(join(tmpdir(), 'ferry-relay-')),
      openssl: 'openssl',
      log: quiet,
      now: () => now.ms,
    });
    const { port, relay } = await relayWith(certs, await startApi());
    const served = () =>
      new Promise<string>((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port, ca: certs.caCert() }, () => {
          resolve(socket.getPeerX509Certificate()?.serialNumber ?? '');
          socket.end();
        });
        socket.on('error', reject);
      });
    const before = await served();

    // act
    now.ms += 340 * DAY;
    await relay.renew();
    const after = await served();

    // assess
    expect(before).not.toBe('');
    expect(after).not.toBe(before);
  });

  it('falls back to pass-through with one clear log line when openssl is missing', async () => {
    // prepare
    const { log, warnings } = recordingLog();
    const certs = new RelayCertificates({
      stateDir: mkdtempSync(join(tmpdir(), 'ferry-relay-')),
      openssl: '/nonexistent/openssl',
      log,
    });
    const relay = new ApiRelay(await startApi(), log, (host) => certs.forGateway(host));
    relays.push(relay);

    // act
    await relay.listen('127.0.0.1', 0);
    await relay.listen('127.0.0.2', 0);
    const port = Number(Object.fromEntries(relay.env().map((e) => [e.name, e.value])).KUBERNETES_SERVICE_PORT);
    const res = await fetch(`http://127.0.0.2:${port}/version`);

    // assess
    expect(relay.terminatesTls).toBe(false);
    expect(await res.text()).toBe('/version undefined');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('install openssl');
    expect(certs.caCert()).toBe('');
  });

  it('never asks for a certificate when the API is HTTPS: TLS stays end to end', async () => {
    // prepare
    const asked: string[] = [];
    const relay = new ApiRelay('https://127.0.0.1:1', quiet, async (host) => {
      asked.push(host);
      return undefined;
    });
    relays.push(relay);

    // act
    await relay.listen('127.0.0.1', 0);

    // assess
    expect(asked).toEqual([]);
    expect(relay.terminatesTls).toBe(false);
  });
});

describe("the relay's certificates on the node", () => {
  const files = (stateDir: string) => join(stateDir, 'api-relay');

  it('keeps the keys 0600 in a 0700 directory, and names the gateway and the kubernetes Service names', async () => {
    // prepare
    const stateDir = mkdtempSync(join(tmpdir(), 'ferry-relay-'));
    const certs = new RelayCertificates({ stateDir, openssl: 'openssl', log: quiet });

    // act
    const id = await certs.forGateway('10.88.0.1');

    // assess
    const dir = files(stateDir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const name of readdirSync(dir)) expect(statSync(join(dir, name)).mode & 0o777, name).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    const x = new X509Certificate(id?.cert as string);
    expect(x.checkIP('10.88.0.1')).toBe('10.88.0.1');
    for (const name of API_NAMES) expect(x.checkHost(name)).toBe(name);
    expect(x.verify(new X509Certificate(id?.ca as string).publicKey)).toBe(true);
  });

  it('reuses the stored CA and certificate after a restart', async () => {
    // prepare
    const stateDir = mkdtempSync(join(tmpdir(), 'ferry-relay-'));
    const first = await new RelayCertificates({ stateDir, openssl: 'openssl', log: quiet }).forGateway('10.88.0.1');

    // act
    const again = await new RelayCertificates({ stateDir, openssl: '/nonexistent/openssl', log: quiet }).forGateway(
      '10.88.0.1',
    );

    // assess
    expect(again).toEqual(first);
  });

  it('reissues the serving certificate under the same CA when the gateway changes or the end is near', async () => {
    // prepare
    const stateDir = mkdtempSync(join(tmpdir(), 'ferry-relay-'));
    const now = { ms: Date.now() };
    const certs = () => new RelayCertificates({ stateDir, openssl: 'openssl', log: quiet, now: () => now.ms });
    const first = await certs().forGateway('10.88.0.1');

    // act
    const moved = await certs().forGateway('10.89.0.1');
    now.ms += 340 * DAY;
    const late = await certs().forGateway('10.89.0.1');

    // assess
    expect(moved?.ca).toBe(first?.ca);
    expect(moved?.cert).not.toBe(first?.cert);
    expect(new X509Certificate(moved?.cert as string).checkIP('10.89.0.1')).toBe('10.89.0.1');
    expect(late?.ca).toBe(first?.ca);
    expect(late?.cert).not.toBe(moved?.cert);
  });

  it('replaces stored files that are damaged or do not belong together', async () => {
    // prepare
    const stateDir = mkdtempSync(join(tmpdir(), 'ferry-relay-'));
    const first = await new RelayCertificates({ stateDir, openssl: 'openssl', log: quiet }).forGateway('10.88.0.1');
    writeFileSync(join(files(stateDir), 'tls.crt'), 'not a certificate');

    // act
    const repaired = await new RelayCertificates({ stateDir, openssl: 'openssl', log: quiet }).forGateway('10.88.0.1');

    // assess
    expect(repaired?.ca).toBe(first?.ca);
    expect(new X509Certificate(repaired?.cert as string).checkIP('10.88.0.1')).toBe('10.88.0.1');
    expect(existsSync(join(files(stateDir), 'tls.key'))).toBe(true);
  });

  it("names the kubernetes Service's cluster IP and the configured cluster domain, reissuing under the same CA when the IP appears", async () => {
    // prepare
    const stateDir = mkdtempSync(join(tmpdir(), 'ferry-relay-'));
    const serviceIPs: string[] = [];
    const certs = new RelayCertificates({
      stateDir,
      openssl: 'openssl',
      log: quiet,
      domain: 'corp.internal',
      serviceIPs: () => serviceIPs,
    });
    const before = await certs.forGateway('10.88.0.1');

    // act
    serviceIPs.push('10.96.0.1');
    const after = await certs.forGateway('10.88.0.1');
    const again = await certs.forGateway('10.88.0.1');

    // assess
    const x = new X509Certificate(after?.cert as string);
    expect(x.checkIP('10.96.0.1')).toBe('10.96.0.1');
    expect(x.checkIP('10.88.0.1')).toBe('10.88.0.1');
    for (const name of apiNames('corp.internal')) expect(x.checkHost(name), name).toBe(name);
    expect(x.checkHost('kubernetes.default.svc.cluster.local')).toBeUndefined();
    expect(new X509Certificate(before?.cert as string).checkIP('10.96.0.1')).toBeUndefined();
    expect(after?.ca).toBe(before?.ca);
    expect(again).toEqual(after);
  });

  it('reissues a certificate made for another cluster domain', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'ferry-relay-'));
    const first = await new RelayCertificates({ stateDir, openssl: 'openssl', log: quiet }).forGateway('10.88.0.1');
    const moved = await new RelayCertificates({
      stateDir,
      openssl: 'openssl',
      log: quiet,
      domain: 'corp.internal',
    }).forGateway('10.88.0.1');
    expect(moved?.cert).not.toBe(first?.cert);
    expect(new X509Certificate(moved?.cert as string).checkHost('kubernetes.default.svc.corp.internal')).toBeTruthy();
  });

  it('refuses a Service address or a domain that could add names of its own to the openssl config', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'ferry-relay-'));
    const ips = new RelayCertificates({
      stateDir,
      openssl: 'openssl',
      log: quiet,
      serviceIPs: () => ['10.96.0.1,DNS:evil'],
    });
    await expect(ips.forGateway('10.88.0.1')).rejects.toThrow('not an IP address');
    const domain = new RelayCertificates({
      stateDir,
      openssl: 'openssl',
      log: quiet,
      domain: 'x,DNS:evil.example.com',
    });
    await expect(domain.forGateway('10.88.0.1')).rejects.toThrow('not a DNS name');
  });

  it('refuses a gateway that is not an IP address (it goes into the openssl config)', async () => {
    // prepare
    const certs = new RelayCertificates({
      stateDir: mkdtempSync(join(tmpdir(), 'ferry-relay-')),
      openssl: 'openssl',
      log: quiet,
    });

    // act
    const made = certs.forGateway('10.0.0.1,DNS:evil.example.com');

    // assess
    await expect(made).rejects.toThrow('not an IP address');
  });
});
