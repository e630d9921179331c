/**
 * `npm run bench -- scale --calibrate`: a stand-in for the control plane that costs next to
 * nothing, so the simulator's own cost per sync can be measured at 5,000 nodes on a machine that
 * could not also run the server. It answers the agent protocol as `ferry server` paces it: a
 * register gets a token; a node's first sync gets ten pods (the scale workload's pod, so the
 * simulator builds and reports their statuses); a sync that asks to be held is held for its wait
 * (the server's 5 s at most) and answered "nothing changed", the Lease renewed; a report is
 * answered at once. Not the protocol's judge: only its pace.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appObjects } from '../lib/workload';

const VERSIONS = { pods: 'p1', config: 'c1', logs: 'l1', routes: '1', ingress: '' };
const QUIET = JSON.stringify({ versions: VERSIONS }).slice(0, -1);

function podsFor(node: string): Record<string, unknown>[] {
  const template = (appObjects(0)[1] as { spec: { template: { spec: Record<string, unknown> } } }).spec.template;
  return Array.from({ length: 10 }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${node}-pod-${i}`, namespace: 'default', uid: `${node}-uid-${i}`, labels: { app: 'app-0000' } },
    spec: { ...template.spec, nodeName: node },
  }));
}

function answer(res: ServerResponse, body: string): void {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export interface CannedServer {
  url: string;
  syncs: () => number;
  close(): Promise<void>;
}

export async function startCannedServer(): Promise<CannedServer> {
  const sentPods = new Set<string>();
  let syncs = 0;
  const held = new Set<NodeJS.Timeout>();
  const server: Server = createServer({ keepAliveTimeout: 15_000 }, (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      const token = (req.headers.authorization ?? '').slice('Bearer '.length);
      if (req.url === '/agent/v1/register') {
        const { nodeName } = JSON.parse(body) as { nodeName: string };
        return answer(res, JSON.stringify({ nodeName, token: `node:${nodeName}` }));
      }
      syncs++;
      const node = token.slice('node:'.length);
      const now = Date.now();
      const tail = `,"nodeStatusUpdateSeconds":300,"leaseRenewedAt":${now}`;
      if (!sentPods.has(node)) {
        sentPods.add(node);
        const pods = JSON.stringify(podsFor(node));
        return answer(res, `${QUIET}${tail},"pods":${pods},"volumes":[],"configMaps":[],"secrets":[]}`);
      }
      const wait = Math.min(5, Number((JSON.parse(body) as { waitSeconds?: number }).waitSeconds ?? 0)) * 1000;
      if (wait === 0) return answer(res, `${QUIET}${tail}}`);
      const timer = setTimeout(() => {
        held.delete(timer);
        answer(res, `${QUIET},"nodeStatusUpdateSeconds":300,"leaseRenewedAt":${Date.now()}}`);
      }, wait);
      held.add(timer);
      res.on('close', () => {
        clearTimeout(timer);
        held.delete(timer);
      });
    });
  });
  server.maxConnections = 20_000;
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    syncs: () => syncs,
    async close() {
      for (const t of held) clearTimeout(t);
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
