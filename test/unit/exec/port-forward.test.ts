/**
 * kubectl port-forward over SPDY/3.1, bare or tunnelled in a WebSocket (kubectl 1.31+), against a
 * real server with a hand-written client (spdy-client.ts): bytes reach the pod's port and come
 * back, and a connection that goes away on either side ends its session at once: its request is
 * deleted and a late dial-back refused, instead of both waiting out the 25 s dial timeout.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startStreamNode } from '../../helpers/stream-node';
import { type SpdyClient, spdyUpgrade, tunnelUpgrade } from './spdy-client';
import { dial, startUpgradeApi, type UpgradeApi } from './upgrade-harness';
import { rawWebSocket } from './ws-client';

const PF = '/api/v1/namespaces/default/pods/web/portforward';
const agentPath = (session: string) => `/agent/v1/stream?session=${encodeURIComponent(session)}`;

/** Polls `check` every 10 ms for at most `ms` (the bound is generous; a pass takes milliseconds). */
async function until(check: () => boolean | Promise<boolean>, ms = 2000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 10)))
    if (await check()) return true;
  return check();
}

const TRANSPORTS: [string, (url: string, path: string, token: string) => Promise<SpdyClient>][] = [
  ['SPDY/3.1', spdyUpgrade],
  ['a WebSocket tunnel (SPDY/3.1+portforward.k8s.io)', async (...a) => (await tunnelUpgrade(...a)).client],
];

describe.each(TRANSPORTS)('kubectl port-forward over %s', (_name, upgrade) => {
  let api: UpgradeApi;
  let client: SpdyClient | undefined;

  beforeEach(async () => {
    api = await startUpgradeApi();
  });

  afterEach(async () => {
    client?.close();
    await api.close();
  });

  /** Opens a port-forward and one connection's pair of streams; waits for the node's request. */
  async function openConnection(port = 8080): Promise<{ data: number; error: number; session: string }> {
    client = await upgrade(api.url, PF, api.tokens.admin);
    const pair = await client.openPair(port, '0');
    expect(await until(async () => (await api.requests()).length === 1)).toBe(true);
    const [request] = await api.requests();
    return { ...pair, session: request?.spec.stream.session as string };
  }

  it('cancels the session and deletes its request when kubectl resets the connection before the node dials back', async () => {
    // prepare
    const { data, session } = await openConnection();
    expect(api.deps.streams.size).toBe(1);

    // act
    client?.reset(data);

    // assess: gone within the poll, not after the dial timeout
    expect(await until(async () => (await api.requests()).length === 0 && api.deps.streams.size === 0)).toBe(true);
    const late = await dial(api.url, agentPath(session), api.tokens.n1, []);
    expect('ws' in late ? 101 : late.status).toBe(404);
  });

  it('cancels every waiting session when the whole port-forward connection goes away', async () => {
    // prepare
    await openConnection();
    await client?.openPair(9090, '1');
    expect(await until(async () => (await api.requests()).length === 2)).toBe(true);

    // act
    client?.close();

    // assess
    expect(await until(async () => (await api.requests()).length === 0 && api.deps.streams.size === 0)).toBe(true);
  });

  it("carries bytes both ways to the pod's port, and ends kubectl's streams when the pod's side closes", async () => {
    // prepare: the pod is a TCP server on loopback that answers one line and closes
    const pod: Server = createServer((s) => s.once('data', (d) => s.end(`echo:${d}`)));
    await new Promise<void>((r) => pod.listen(0, '127.0.0.1', r));
    const port = (pod.address() as { port: number }).port;
    const node = await startStreamNode(api.deps, api.deps.store, api.url, 'n1');
    try {
      client = await upgrade(api.url, PF, api.tokens.admin);
      const { data, error } = await client.openPair(port, '0');

      // act
      client.write(data, Buffer.from('ping'));

      // assess
      expect(await until(() => client?.streams.get(data)?.ended === true)).toBe(true);
      expect(client.text(data)).toBe('echo:ping');
      expect(client.text(error)).toBe('');
      expect(await until(async () => (await api.requests()).length === 0)).toBe(true);
    } finally {
      node.stop();
      pod.close();
    }
  });

  it("writes the node's error on the error stream when nothing listens at the port", async () => {
    // prepare: a port nothing listens on
    const probe: Server = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const node = await startStreamNode(api.deps, api.deps.store, api.url, 'n1');
    try {
      client = await upgrade(api.url, PF, api.tokens.admin);
      const { error } = await client.openPair(port, '0');

      // assess
      expect(await until(() => client?.streams.get(error)?.ended === true)).toBe(true);
      expect(client.text(error)).toMatch(/ECONNREFUSED/);
    } finally {
      node.stop();
    }
  });
});

describe('the port-forward WebSocket tunnel handshake', () => {
  let api: UpgradeApi;

  beforeEach(async () => {
    api = await startUpgradeApi();
  });

  afterEach(async () => {
    await api.close();
  });

  it("answers kubectl's tunnel subprotocol, and refuses a WebSocket offering only others (400), starting nothing", async () => {
    // act
    const { client, protocol } = await tunnelUpgrade(api.url, PF, api.tokens.admin, [
      'v2.portforward.k8s.io',
      'SPDY/3.1+portforward.k8s.io',
    ]);
    const other = await dial(api.url, PF, api.tokens.admin, ['portforward.k8s.io', 'v5.channel.k8s.io']);
    const reader = rawWebSocket(api.url, PF, api.tokens.reader, ['SPDY/3.1+portforward.k8s.io']);

    // assess
    expect(protocol).toBe('SPDY/3.1+portforward.k8s.io');
    client.close();
    expect('ws' in other ? 101 : other.status).toBe(400);
    expect('ws' in other ? '' : other.message).toContain('SPDY/3.1+portforward.k8s.io');
    await expect(reader).rejects.toThrow('refused: HTTP/1.1 403');
    expect(await api.requests()).toEqual([]);
  });
});
