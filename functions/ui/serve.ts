/**
 * Serves the cluster page (`static/`: HTML, CSS and one script) at `/ui/`, in front of the API
 * handler: any other path goes to the API untouched (one prefix test per request). The page is
 * public, as kube-dashboard's login page is; what it shows comes from the API with the token the
 * user pastes. Every answer carries a Content-Security-Policy that allows only this origin's
 * script, style and fetches (no inline script, no frames, no other origin), so a name that
 * slipped into the page as markup still could not run or send anything anywhere.
 */
import type { ApiHandler, ApiResponse } from '../api/types';

/** The page's files by name (`index.html`, `app.js`, `style.css`): `get` reads one when first asked. */
export interface UiFiles {
  get(name: string): string | undefined;
}

export const UI_PATH = '/ui/';

export const UI_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

export function withUi(api: ApiHandler, files: UiFiles): ApiHandler {
  return (req) => {
    const path = req.path;
    if (path !== '/ui' && !path.startsWith(UI_PATH)) return api(req);
    return Promise.resolve(page(req.method, path, files));
  };
}

function page(method: string, path: string, files: UiFiles): ApiResponse {
  if (path === '/ui') return { status: 301, headers: { ...UI_HEADERS, location: UI_PATH }, body: '' };
  if (method !== 'GET' && method !== 'HEAD') return text(405, 'method not allowed');
  const name = path === UI_PATH ? 'index.html' : path.slice(UI_PATH.length);
  // Only the listed files: no path reaches the disk.
  const body = files.get(name);
  if (body === undefined) return text(404, 'not found');
  const type = TYPES[name.slice(name.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
  return { status: 200, headers: { ...UI_HEADERS, 'content-type': type }, body: method === 'HEAD' ? '' : body };
}

function text(status: number, body: string): ApiResponse {
  return { status, headers: { ...UI_HEADERS, 'content-type': 'text/plain; charset=utf-8' }, body };
}
