/**
 * The HTTP side of the agent protocol (`/agent/v1/*`, schemas/agent-protocol.ts): the hook where
 * the node agent's calls enter the API. `register` trades a bootstrap token for a node token
 * (register.ts decides who may register what); `sync` is the node's heartbeat and status report
 * (functions/api/agent/ does the work, and checks the statuses it carries against the Node and Pod
 * schemas); `token` gives a node its pods' ServiceAccount tokens (functions/pod-tokens.ts); `wake` answers
 * the node's held sync now, so it reports on the connection it has instead of cutting it. Both bodies are checked against the protocol schemas before anything is written.
 */
import { Compile } from 'typebox/compile';
import {
  LogAnswerSchema,
  PodTokenRequestSchema,
  RegisterRequestSchema,
  SyncRequestSchema,
  type WakeResponse,
} from '../../schemas/agent-protocol';
import { InvalidError, type StatusCause } from '../errors';
import { issuePodToken } from '../pod-tokens';
import { syncResponseJson } from './agent/answer-json';
import { beatSync } from './agent/beat-sync';
import { releaseHeldSyncs } from './agent/desired';
import { HELD_SYNC } from './agent/modes';
import { syncNode } from './agent/sync';
import type { Principal } from './auth';
import { parseBody } from './body';
import { JSON_HEADERS, jsonResponse } from './http-errors';
import { answerLogRequest } from './pod-logs';
import { registerNode } from './register';
import type { ApiDeps, ApiRequest, ApiResponse } from './types';

const registerCheck = Compile(RegisterRequestSchema);
const syncCheck = Compile(SyncRequestSchema);
const logsCheck = Compile(LogAnswerSchema);
const tokenCheck = Compile(PodTokenRequestSchema);

export type AgentRoute = (deps: ApiDeps, req: ApiRequest, principal: Principal) => Promise<ApiResponse>;

/** op -> handler; `authorize` (auth.ts) has already checked the role for `agent/<op>`. */
export const agentRoutes: Record<string, AgentRoute> = { register, sync, logs, token, wake };

async function register(deps: ApiDeps, req: ApiRequest, principal: Principal): Promise<ApiResponse> {
  const body = parseBody(req, deps.config.maxBodyBytes);
  if (!registerCheck.Check(body)) throw invalid('RegisterRequest', registerCheck.Errors(body));
  return jsonResponse(200, await registerNode(deps, principal, body));
}

async function sync(deps: ApiDeps, req: ApiRequest, principal: Principal): Promise<ApiResponse> {
  const body = parseBody(req, deps.config.maxBodyBytes);
  if (!syncCheck.Check(body)) throw invalid('SyncRequest', syncCheck.Errors(body));
  // A body streaming beats after its first line (agent/beat-sync.ts), where syncs are held.
  if (req.bodyTail && (deps.config.agentSync ?? HELD_SYNC).hold)
    return beatSync(deps, principal.nodeName as string, body, req.bodyTail, req.signal);
  const answer = await syncNode(deps, principal.nodeName as string, body, req.signal);
  // A routes diff sent to every node is serialized once (agent/answer-json.ts).
  return { status: 200, headers: { ...JSON_HEADERS }, body: syncResponseJson(answer) };
}

/** The calling node's held syncs answered now (agent/desired.ts `releaseHeldSyncs`); the body is ignored. */
async function wake(deps: ApiDeps, _req: ApiRequest, principal: Principal): Promise<ApiResponse> {
  const answer: WakeResponse = releaseHeldSyncs(deps, principal.nodeName as string);
  return jsonResponse(200, answer);
}

/** A node's answer to a log request (functions/api/pod-logs.ts). */
async function logs(deps: ApiDeps, req: ApiRequest, principal: Principal): Promise<ApiResponse> {
  const body = parseBody(req, deps.config.maxBodyBytes);
  if (!logsCheck.Check(body)) throw invalid('LogAnswer', logsCheck.Errors(body));
  await answerLogRequest(deps, principal.nodeName as string, body);
  return jsonResponse(200, {});
}

/** A ServiceAccount token for a pod bound to the calling node (functions/pod-tokens.ts). */
async function token(deps: ApiDeps, req: ApiRequest, principal: Principal): Promise<ApiResponse> {
  const body = parseBody(req, deps.config.maxBodyBytes);
  if (!tokenCheck.Check(body)) throw invalid('PodTokenRequest', tokenCheck.Errors(body));
  return jsonResponse(200, await issuePodToken(deps, principal.nodeName as string, body.pod, body.projection));
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
