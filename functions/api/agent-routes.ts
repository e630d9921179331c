/**
 * The HTTP side of the agent protocol (`/agent/v1/*`, schemas/agent-protocol.ts): the hook where
 * the node agent's calls enter the API. `register` trades a bootstrap token for a node token;
 * `sync` is the node's heartbeat and status report (functions/api/agent/ does the work, and checks
 * the statuses it carries against the Node and Pod schemas). Both bodies are checked against the
 * protocol schemas before anything is written.
 */
import { createHash } from 'node:crypto';
import { Compile } from 'typebox/compile';
import { LogAnswerSchema, RegisterRequestSchema, SyncRequestSchema } from '../../schemas/agent-protocol';
import { ConflictError, InvalidError, isConflict, type StatusCause } from '../errors';
import { admit, validateOnly } from './admission';
import { syncNode } from './agent/sync';
import type { Principal } from './auth';
import { parseBody } from './body';
import { jsonResponse } from './http-errors';
import { answerLogRequest } from './pod-logs';
import { issueToken, TOKEN_KIND } from './tokens';
import type { ApiDeps, ApiRequest, ApiResponse } from './types';

const registerCheck = Compile(RegisterRequestSchema);
const syncCheck = Compile(SyncRequestSchema);
const logsCheck = Compile(LogAnswerSchema);

export type AgentRoute = (deps: ApiDeps, req: ApiRequest, principal: Principal) => Promise<ApiResponse>;

/** op -> handler; `authorize` (auth.ts) has already checked the role for `agent/<op>`. */
export const agentRoutes: Record<string, AgentRoute> = { register, sync, logs };

/** Which bootstrap credential registered a node: only that one may register the name again. */
const REGISTERED_BY = 'ferry.dev/registered-by';

async function register(deps: ApiDeps, req: ApiRequest, principal: Principal): Promise<ApiResponse> {
  const body = parseBody(req, deps.config.maxBodyBytes);
  if (!registerCheck.Check(body)) throw invalid('RegisterRequest', registerCheck.Errors(body));
  const { nodeName, labels, status } = body;
  for (let attempt = 1; ; attempt++) {
    const stored = await deps.store.get({ kind: 'Node', name: nodeName });
    // A bootstrap token must not take over a node another credential registered (it would get
    // that node's identity and its pods).
    const owner = stored?.metadata.annotations?.[REGISTERED_BY];
    if (stored && owner !== undefined && owner !== principal.name) {
      throw new ConflictError(
        'Node',
        nodeName,
        undefined,
        `node "${nodeName}" is already registered with another bootstrap credential; delete the Node first to re-register it`,
      );
    }
    const node = admit({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: nodeName,
        annotations: { ...stored?.metadata.annotations, [REGISTERED_BY]: owner ?? principal.name },
        ...(labels ? { labels: { ...stored?.metadata.labels, ...labels } } : {}),
      },
      spec: stored?.spec ?? {},
    });
    node.status = status;
    validateOnly(node);
    try {
      if (!stored) await deps.store.create(node);
      else await deps.store.update({ ...node, metadata: { ...stored.metadata, ...node.metadata } });
      break;
    } catch (err) {
      if (!isConflict(err) || attempt >= 5) throw err;
    }
  }
  // One credential per node: registering again replaces (revokes) the previous one.
  const name = nodeTokenName(nodeName);
  await deps.store.delete({ kind: TOKEN_KIND, name }).catch(() => undefined);
  const { token } = await issueToken(deps, { name, role: 'node', nodeName, description: `node ${nodeName}` });
  deps.log.info('registered node', { node: nodeName });
  return jsonResponse(200, { nodeName, token });
}

async function sync(deps: ApiDeps, req: ApiRequest, principal: Principal): Promise<ApiResponse> {
  const body = parseBody(req, deps.config.maxBodyBytes);
  if (!syncCheck.Check(body)) throw invalid('SyncRequest', syncCheck.Errors(body));
  return jsonResponse(200, await syncNode(deps, principal.nodeName as string, body, req.signal));
}

/** A node's answer to a log request (functions/api/pod-logs.ts). */
async function logs(deps: ApiDeps, req: ApiRequest, principal: Principal): Promise<ApiResponse> {
  const body = parseBody(req, deps.config.maxBodyBytes);
  if (!logsCheck.Check(body)) throw invalid('LogAnswer', logsCheck.Errors(body));
  await answerLogRequest(deps, principal.nodeName as string, body);
  return jsonResponse(200, {});
}

function nodeTokenName(nodeName: string): string {
  const name = `node-${nodeName}`;
  return name.length <= 253 ? name : `node-${createHash('sha256').update(nodeName).digest('hex').slice(0, 32)}`;
}

function invalid(kind: string, errors: Iterable<{ instancePath: string; message: string }>): InvalidError {
  const causes: StatusCause[] = [...errors].slice(0, 20).map((e) => ({
    field: e.instancePath
      .replace(/^\//, '')
      .replace(/\/(\d+)(?=\/|$)/g, '[$1]')
      .replace(/\//g, '.'),
    message: e.message,
    reason: 'FieldValueInvalid',
  }));
  return new InvalidError(kind, '', causes);
}
