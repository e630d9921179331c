/**
 * The exec/attach WebSocket upgrade and the node's dial-back, over a real server: who may open a
 * session (create on pods/exec: admin and the namespace's deployer, not a reader), what input is
 * refused before anything starts (400, no request written, no session held), and that only the
 * pod's node may answer a session, once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHANNEL, frame } from '../../../schemas/stream-channels';
import { type Dialed, dial, nextMessage, rawUpgrade, startUpgradeApi, type UpgradeApi } from './upgrade-harness';

const EXEC = '/api/v1/namespaces/default/pods/web/exec';
const ATTACH = '/api/v1/namespaces/default/pods/web/attach';
const GOOD = '?command=echo&command=hi&container=app&stdout=true&stderr=true';

function refused(d: Dialed): { status: number; message: string } {
  if ('ws' in d) {
    d.ws.close();
    throw new Error('the handshake was accepted');
  }
  return d;
}

describe('exec and attach upgrades', () => {
  let api: UpgradeApi;

  beforeEach(async () => {
    api = await startUpgradeApi();
  });

  afterEach(async () => {
    await api.close();
  });

  it.each([
    ['reader', 403, 'may not create pod/exec "web" in namespace "default"'],
    ['otherDeployer', 403, 'may not create pod/exec'],
    ['n1', 403, 'may not create pod/exec'],
  ] as const)('refuses exec to a %s token (%i) and starts nothing', async (who, status, message) => {
    // act
    const res = refused(await dial(api.url, EXEC + GOOD, api.tokens[who]));

    // assess
    expect(res.status).toBe(status);
    expect(res.message).toContain(message);
    expect(await api.requests()).toEqual([]);
    expect(api.deps.streams.size).toBe(0);
  });

  it("lets the namespace's deployer exec, negotiating v5.channel.k8s.io, and asks the pod's node", async () => {
    // act
    const d = await dial(api.url, EXEC + GOOD, api.tokens.deployer, ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
    for (let i = 0; i < 50 && (await api.requests()).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    const [request] = await api.requests();

    // assess
    if (!('ws' in d)) throw new Error(`refused: ${d.status} ${d.message}`);
    expect(d.protocol).toBe('v5.channel.k8s.io');
    expect(request?.spec.nodeName).toBe('n1');
    expect(request?.spec.stream).toMatchObject({
      kind: 'exec',
      command: ['echo', 'hi'],
      stdout: true,
      stderr: true,
      stdin: false,
    });
    d.ws.close();
  });

  it.each([
    ['no command', '?container=app&stdout=true', 'you must specify at least one command'],
    ['no stream', '?command=ls&container=app', 'at least 1 of stdin, stdout, stderr'],
    ['a bad boolean', '?command=ls&container=app&stdout=maybe', 'stdout: must be true or false'],
    ['an unknown container', '?command=ls&container=db&stdout=true', 'container db is not valid for pod web'],
    ['no container of two', '?command=ls&stdout=true', 'choose one of: [app sidecar]'],
    ['a NUL byte', '?command=ls%00rm&container=app&stdout=true', 'contains a NUL byte'],
    ['too many arguments', `?${'command=a&'.repeat(1025)}container=app&stdout=true`, 'at most 1024 arguments'],
  ])('refuses %s with a 400 naming it, writing no request', async (_what, query, message) => {
    // act
    const res = refused(await dial(api.url, EXEC + query, api.tokens.admin));

    // assess
    expect(res.status).toBe(400);
    expect(res.message).toContain(message);
    expect(await api.requests()).toEqual([]);
    expect(api.deps.streams.size).toBe(0);
  });

  it('refuses attach with a command, an unknown pod (404), and a client offering no channel protocol', async () => {
    // act
    const withCommand = refused(
      await dial(api.url, `${ATTACH}?command=sh&container=app&stdout=true`, api.tokens.admin),
    );
    const missing = refused(await dial(api.url, '/api/v1/namespaces/default/pods/nope/exec' + GOOD, api.tokens.admin));
    const noProtocol = refused(await dial(api.url, EXEC + GOOD, api.tokens.admin, ['base64.channel.k8s.io']));

    // assess
    expect(withCommand).toMatchObject({ status: 400, message: 'command: attach takes no command' });
    expect(missing).toMatchObject({ status: 404, message: 'pods "nope" not found' });
    expect(noProtocol.status).toBe(400);
    expect(noProtocol.message).toContain('ferry speaks v5.channel.k8s.io and v4.channel.k8s.io');
    expect(await api.requests()).toEqual([]);
  });

  it('answers exec over SPDY/3.1 without v4.channel.k8s.io, port-forward without its protocol or over a WebSocket, and a plain POST, with a 400 saying why', async () => {
    // prepare
    const FORWARD = '/api/v1/namespaces/default/pods/web/portforward';

    // act
    const spdy = await rawUpgrade(api.url, EXEC + GOOD, api.tokens.admin, 'SPDY/3.1');
    const forward = await rawUpgrade(api.url, FORWARD, api.tokens.admin, 'SPDY/3.1');
    const forwardWs = refused(await dial(api.url, FORWARD, api.tokens.admin, ['portforward.k8s.io']));
    const readerForward = await rawUpgrade(api.url, FORWARD, api.tokens.reader, 'SPDY/3.1');
    const plain = await fetch(api.url + EXEC + GOOD, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.tokens.admin}` },
    });
    const elsewhere = await rawUpgrade(api.url, '/api/v1/namespaces/default/pods', api.tokens.admin, 'websocket');

    // assess
    expect(spdy.status).toBe(400);
    expect(spdy.message).toContain('X-Stream-Protocol-Version: ferry serves v4.channel.k8s.io over SPDY/3.1');
    expect(forward.status).toBe(400);
    expect(forward.message).toContain('X-Stream-Protocol-Version: ferry serves portforward.k8s.io');
    expect(forwardWs.status).toBe(400);
    expect(forwardWs.message).toContain('port-forward over a WebSocket is served as SPDY/3.1+portforward.k8s.io');
    expect(readerForward.status).toBe(403);
    expect(readerForward.message).toContain('may not create pod/portforward');
    expect(plain.status).toBe(400);
    expect(((await plain.json()) as { message: string }).message).toContain('Upgrade request required');
    expect(elsewhere.status).toBe(400);
    expect(await api.requests()).toEqual([]);
  });

  it('answers a 401 to an upgrade without a token', async () => {
    // act
    const res = refused(await dial(api.url, EXEC + GOOD, 'not-a-token'));

    // assess
    expect(res.status).toBe(401);
  });
});

describe("the node's dial-back", () => {
  let api: UpgradeApi;

  beforeEach(async () => {
    api = await startUpgradeApi();
  });

  afterEach(async () => {
    await api.close();
  });

  /** Opens an exec as the admin and waits for the node's request: the client socket and the session id. */
  async function openExec(query = GOOD): Promise<{ client: import('ws').WebSocket; session: string }> {
    const d = await dial(api.url, EXEC + query, api.tokens.admin);
    if (!('ws' in d)) throw new Error(`refused: ${d.status} ${d.message}`);
    for (let i = 0; i < 50 && (await api.requests()).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    const [request] = await api.requests();
    if (!request) throw new Error('no request for the node');
    return { client: d.ws, session: request.spec.stream.session };
  }

  const agentPath = (session: string) => `/agent/v1/stream?session=${encodeURIComponent(session)}`;

  it("splices the pod's node to the client by direction: output and status out, stdin in", async () => {
    // prepare
    const { client, session } = await openExec('?command=cat&container=app&stdin=true&stdout=true');
    const d = await dial(api.url, agentPath(session), api.tokens.n1, []);
    if (!('ws' in d)) throw new Error(`refused: ${d.status} ${d.message}`);
    const node = d.ws;

    // act
    const atNode = nextMessage(node);
    client.send(frame(CHANNEL.stdout, 'a client may not write stdout'));
    client.send(frame(CHANNEL.stdin, 'typed'));
    const stdin = await atNode;
    const atClient = nextMessage(client);
    node.send(frame(CHANNEL.stdin, 'a node may not write stdin'));
    node.send(frame(CHANNEL.stdout, 'printed'));
    const stdout = await atClient;
    const closed = new Promise((r) => client.once('close', r));
    node.send(frame(CHANNEL.error, '{"status":"Success"}'));
    const status = await nextMessage(client);
    node.close();
    await closed;

    // assess
    expect(stdin).toEqual([CHANNEL.stdin, 'typed']);
    expect(stdout).toEqual([CHANNEL.stdout, 'printed']);
    expect(status).toEqual([CHANNEL.error, '{"status":"Success"}']);
    expect(await api.requests()).toEqual([]);
  });

  it('keeps every byte of stdin sent before the node dials back, past the early buffer (backpressure, not loss)', async () => {
    // prepare
    const { client, session } = await openExec('?command=cat&container=app&stdin=true&stdout=true');
    const chunk = Buffer.alloc(600 * 1024, 'x');
    for (let i = 0; i < 3; i++) client.send(frame(CHANNEL.stdin, chunk));
    await new Promise((r) => setTimeout(r, 100));

    // act
    const d = await dial(api.url, agentPath(session), api.tokens.n1, []);
    if (!('ws' in d)) throw new Error(`refused: ${d.status} ${d.message}`);
    let bytes = 0;
    await new Promise<void>((resolve) => {
      d.ws.on('message', (m: Buffer) => {
        bytes += m.length - 1;
        if (bytes >= 3 * chunk.length) resolve();
      });
    });

    // assess
    expect(bytes).toBe(3 * chunk.length);
    d.ws.close();
    client.close();
  });

  it("refuses another node's dial-back (403) and keeps the session for its own node", async () => {
    // prepare
    const { client, session } = await openExec();

    // act
    const wrong = refused(await dial(api.url, agentPath(session), api.tokens.n2, []));
    const admin = refused(await dial(api.url, agentPath(session), api.tokens.admin, []));
    const right = await dial(api.url, agentPath(session), api.tokens.n1, []);

    // assess
    expect(wrong.status).toBe(403);
    expect(wrong.message).toContain(`node "n2" may not answer a stream session for another node's pod`);
    expect(admin.status).toBe(403);
    expect('ws' in right).toBe(true);
    if ('ws' in right) right.ws.close();
    client.close();
  });

  it('refuses a reused or unknown session id (404): each is single-use', async () => {
    // prepare
    const { client, session } = await openExec();
    const first = await dial(api.url, agentPath(session), api.tokens.n1, []);

    // act
    const again = refused(await dial(api.url, agentPath(session), api.tokens.n1, []));
    const unknown = refused(await dial(api.url, agentPath('x'.repeat(32)), api.tokens.n1, []));
    const none = refused(await dial(api.url, '/agent/v1/stream', api.tokens.n1, []));

    // assess
    expect('ws' in first).toBe(true);
    expect(again).toMatchObject({ status: 404, message: 'stream session not found: unknown, already used or expired' });
    expect(unknown.status).toBe(404);
    expect(none.status).toBe(400);
    if ('ws' in first) first.ws.close();
    client.close();
  });

  it('forgets the session and deletes its request when the client goes away before the node dials', async () => {
    // prepare
    const { client, session } = await openExec();

    // act
    client.close();
    for (let i = 0; i < 50 && (await api.requests()).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    const late = refused(await dial(api.url, agentPath(session), api.tokens.n1, []));

    // assess
    expect(late.status).toBe(404);
    expect(await api.requests()).toEqual([]);
    expect(api.deps.streams.size).toBe(0);
  });
});
