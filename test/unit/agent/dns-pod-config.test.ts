/**
 * Pods' resolv.conf as the kubelet writes it, for each dnsPolicy, with dnsConfig merged and the
 * resolver's limits applied; and the pod manager writing it when it makes the sandbox and
 * mounting it in every container, with the pod's FQDN domain from its subdomain.
 */
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../agent/config';
import { type NodeDnsFacts, podHostDomain, podResolvConf } from '../../../agent/dns/pod-config';
import { HostResolvConf, parseResolvConf, renderResolvConf } from '../../../agent/dns/resolv-conf';
import { pod, startManager, until } from './pod-harness';

const host = parseResolvConf(
  '# DHCP\nnameserver 10.0.0.2\nnameserver 127.0.0.53 ; systemd-resolved\nsearch corp.example lab.example\noptions edns0 timeout:2\n',
);
const node: NodeDnsFacts = { nodeDns: '172.18.0.1', domain: 'cluster.local', host };

describe('resolv.conf parsing', () => {
  it('reads nameservers, the last search/domain line and every options line, skipping comments', () => {
    expect(host).toEqual({
      nameservers: ['10.0.0.2', '127.0.0.53'],
      searches: ['corp.example', 'lab.example'],
      options: ['edns0', 'timeout:2'],
    });
    expect(parseResolvConf('search a.example\ndomain b.example\nnameserver not-an-ip\n')).toEqual({
      nameservers: [],
      searches: ['b.example'],
      options: [],
    });
  });
});

describe("a pod's resolv.conf", () => {
  it('ClusterFirst (the default): the node DNS, the cluster search list then the host searches, ndots:5', () => {
    expect(renderResolvConf(podResolvConf({ namespace: 'shop' }, node))).toBe(
      'nameserver 172.18.0.1\nsearch shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\noptions ndots:5\n',
    );
  });

  it('ClusterFirstWithHostNet: the same as ClusterFirst for a pod on the pod network', () => {
    expect(podResolvConf({ namespace: 'shop', dnsPolicy: 'ClusterFirstWithHostNet' }, node)).toEqual(
      podResolvConf({ namespace: 'shop' }, node),
    );
  });

  it('uses the configured cluster domain', () => {
    expect(podResolvConf({ namespace: 'a' }, { ...node, domain: 'corp.internal' }).searches.slice(0, 3)).toEqual([
      'a.svc.corp.internal',
      'svc.corp.internal',
      'corp.internal',
    ]);
  });

  it("Default: the node's resolv.conf without its loopback nameservers, which the pod cannot reach", () => {
    expect(podResolvConf({ namespace: 'a', dnsPolicy: 'Default' }, node)).toEqual({
      nameservers: ['10.0.0.2'],
      searches: ['corp.example', 'lab.example'],
      options: ['edns0', 'timeout:2'],
    });
  });

  it('Default on a node whose only resolver is on loopback: the node DNS server, which forwards to it', () => {
    const loopback = { ...node, host: parseResolvConf('nameserver 127.0.0.53\n') };
    expect(podResolvConf({ namespace: 'a', dnsPolicy: 'Default' }, loopback).nameservers).toEqual(['172.18.0.1']);
  });

  it('None: only what dnsConfig says', () => {
    expect(
      podResolvConf(
        {
          namespace: 'a',
          dnsPolicy: 'None',
          dnsConfig: { nameservers: ['192.0.2.53'], searches: ['x.example'], options: [{ name: 'ndots', value: '2' }] },
        },
        node,
      ),
    ).toEqual({ nameservers: ['192.0.2.53'], searches: ['x.example'], options: ['ndots:2'] });
  });

  it('appends dnsConfig to ClusterFirst without duplicates; its options replace those of the same name', () => {
    const conf = podResolvConf(
      {
        namespace: 'a',
        dnsConfig: {
          nameservers: ['172.18.0.1', '192.0.2.53'],
          searches: ['cluster.local', 'extra.example'],
          options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }, { name: 'single-request-reopen' }],
        },
      },
      node,
    );
    expect(conf.nameservers).toEqual(['172.18.0.1', '192.0.2.53']);
    expect(conf.searches).toEqual([
      'a.svc.cluster.local',
      'svc.cluster.local',
      'cluster.local',
      'corp.example',
      'lab.example',
      'extra.example',
    ]);
    expect(conf.options).toEqual(['ndots:2', 'edns0', 'single-request-reopen']);
  });

  it('keeps the first 3 nameservers and cuts the search list to 32 paths and 2048 characters, as the kubelet does', () => {
    const many = Array.from({ length: 40 }, (_, i) => `s${i}.example`);
    const conf = podResolvConf(
      { namespace: 'a', dnsConfig: { nameservers: ['192.0.2.1', '192.0.2.2', '192.0.2.3'], searches: many } },
      node,
    );
    expect(conf.nameservers).toEqual(['172.18.0.1', '192.0.2.1', '192.0.2.2']);
    expect(conf.searches).toHaveLength(32);
    const long = Array.from({ length: 20 }, (_, i) => `${'x'.repeat(120)}${i}.example`);
    const cut = podResolvConf(
      { namespace: 'a', dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], searches: long } },
      node,
    );
    expect(cut.searches.join(' ').length).toBeLessThanOrEqual(2048);
    expect(cut.searches.length).toBeGreaterThan(10);
  });

  it('falls back to Default for ClusterFirst while the node DNS address is not known', () => {
    const { nodeDns: _, ...unknown } = node;
    expect(podResolvConf({ namespace: 'a' }, unknown).nameservers).toEqual(['10.0.0.2']);
  });

  it('gives a pod with a subdomain the domain <subdomain>.<ns>.svc.<domain>, and none without', () => {
    expect(podHostDomain({ namespace: 'data', subdomain: 'db' }, 'cluster.local')).toBe('db.data.svc.cluster.local');
    expect(podHostDomain({ namespace: 'data' }, 'cluster.local')).toBeUndefined();
  });
});

describe('the pod manager and resolv.conf', () => {
  it("writes the pod's resolv.conf with its sandbox and mounts it in every container", async () => {
    const { m, runtime, stateDir } = await startManager({ dns: () => node });
    m.setDesired([
      pod(
        {
          hostname: 'db-0',
          subdomain: 'db',
          containers: [
            { name: 'app', image: 'img' },
            { name: 'side', image: 'img' },
          ],
        },
        { namespace: 'data' },
      ),
    ]);
    await until(() => runtime.byName('app') !== undefined && runtime.byName('side') !== undefined, 'containers');
    const sandbox = [...runtime.containers.values()].find((c) => c.role === 'sandbox');
    expect(sandbox?.sandbox?.hostname).toBe('db-0');
    expect(sandbox?.sandbox?.domainname).toBe('db.data.svc.cluster.local');
    for (const name of ['app', 'side']) {
      const mount = runtime.byName(name)?.config?.mounts.find((x) => x.mountPath === '/etc/resolv.conf');
      expect(mount, name).toMatchObject({ kind: 'bind', readOnly: false });
      const text = readFileSync((mount as { hostPath: string }).hostPath, 'utf8');
      expect(text).toContain('nameserver 172.18.0.1\n');
      expect(text).toContain('search data.svc.cluster.local svc.cluster.local cluster.local');
      expect(text).toContain('options ndots:5\n');
      expect((mount as { hostPath: string }).hostPath.startsWith(stateDir)).toBe(true);
    }
  });

  it("leaves a container's own /etc/resolv.conf mount alone", async () => {
    const { m, runtime } = await startManager({ dns: () => node });
    m.setDesired([
      pod({
        volumes: [{ name: 'etc', emptyDir: {} }],
        containers: [{ name: 'app', image: 'img', volumeMounts: [{ name: 'etc', mountPath: '/etc/resolv.conf' }] }],
      }),
    ]);
    await until(() => runtime.byName('app') !== undefined, 'container');
    const mounts = runtime.byName('app')?.config?.mounts.filter((x) => x.mountPath === '/etc/resolv.conf') ?? [];
    expect(mounts).toHaveLength(1);
    expect(mounts[0]).toMatchObject({ hostPath: expect.stringContaining('volumes') });
  });
});

describe('the agent flags for DNS', () => {
  it('defaults the cluster domain to cluster.local and the resolver config to /etc/resolv.conf', () => {
    const c = loadConfig(['--api-url', 'http://x'], {});
    expect(c.clusterDomain).toBe('cluster.local');
    expect(c.resolvConf).toBe('/etc/resolv.conf');
  });

  it('takes --cluster-domain (trailing dot dropped) and FERRY_RESOLV_CONF', () => {
    const c = loadConfig(['--api-url', 'http://x', '--cluster-domain', 'Corp.Internal.'], {
      FERRY_RESOLV_CONF: '/tmp/r',
    });
    expect(c.clusterDomain).toBe('corp.internal');
    expect(c.resolvConf).toBe('/tmp/r');
  });

  it('refuses a cluster domain that is not a DNS domain', () => {
    for (const bad of ['-x.local', 'a..b', 'has space', 'x_y.local'])
      expect(() => loadConfig(['--api-url', 'http://x', `--cluster-domain=${bad}`], {}), bad).toThrow(ConfigError);
  });
});

describe("the node's resolv.conf, read again", () => {
  it('reads the file again once it changed, and an unreadable one as empty', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ferry-resolv-')), 'resolv.conf');
    writeFileSync(path, 'nameserver 10.0.0.2\n');
    let now = 0;
    const conf = new HostResolvConf(path, 1000, () => now);
    expect(conf.get().nameservers).toEqual(['10.0.0.2']);
    writeFileSync(path, 'nameserver 10.0.0.3\n');
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    expect(conf.get().nameservers).toEqual(['10.0.0.2']);
    now = 1500;
    expect(conf.get().nameservers).toEqual(['10.0.0.3']);
    rmSync(path);
    now = 3000;
    expect(conf.get().nameservers).toEqual([]);
  });
});
