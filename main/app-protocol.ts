// The desktop window's own origin, app://cmdx/: the built renderer's files, and /api/* passed through to the
// coordinator this PC uses. Serving the UI and the API from one origin is what the browser gets from the coordinator
// too, so the renderer has one code path, the CSP stays `connect-src 'self'` whatever the coordinator's address,
// and no CORS is needed. A plain (Request) => Response function: Electron's protocol.handle takes it as is, and the
// tests run it under Node against a real coordinator.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { API_PREFIX, type ErrorBody } from '../protocol/api';
import { CONTENT_SECURITY_POLICY, SECURITY_HEADERS } from '../protocol/web-security';
import { PROXY_RESENDABLE_BODY_BYTES } from '../protocol/limits';
import { transportFetch } from './agent/transport';

export { CONTENT_SECURITY_POLICY };

/**
 * What the coordinator may answer through the proxy: the API's own types. Anything else (HTML above all) would
 * run in the app's origin, so it is refused.
 */
const PROXIED_TYPES = ['application/json', 'text/plain', 'text/event-stream', 'application/zip', 'application/octet-stream'];

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

/** Headers that describe one hop, or an encoding fetch already undid: never forwarded. */
const HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'host',
  'origin',
  'referer',
  'cookie',
  'content-encoding',
  'content-length',
]);

export interface Upstream {
  /** The coordinator's base URL, e.g. http://pool-pc:8787: the first of `servers`, which requests are addressed to. */
  baseUrl: string;
  /** Every node of the pool in the order tried (baseUrl first): `fetch` moves to the next when one is down. */
  servers: readonly string[];
  /** This PC's token, added to requests that carry none. */
  token: string;
  /** The coordinator's certificate SHA-256: every node's certificate must be exactly that one. */
  fingerprint?: string | null;
  /** The one transport to these nodes (main/agent/transport.ts): pinned, failing over; shared by the app's agent. */
  fetch: typeof fetch;
}

/**
 * The upstream for these coordinator nodes of one pool (their one transport made here); throws a TransportError
 * for an address the transport refuses (plain HTTP to another machine, a malformed pin).
 */
export function upstreamTo(servers: readonly string[], token: string, fingerprint: string | null = null): Upstream {
  const nodes = servers.map((server) => server.replace(/\/+$/, ''));
  const fetch = transportFetch(nodes, fingerprint ? { fingerprint } : {});
  return { baseUrl: nodes[0]!, servers: nodes, token, fingerprint, fetch };
}

export interface AppProtocolOptions {
  rendererDir: string;
  /** Where /api/* goes right now; null while no coordinator is configured. */
  upstream(): Upstream | null;
}

const errorResponse = (status: number, code: string, message: string): Response =>
  new Response(JSON.stringify({ error: { code, message } } satisfies ErrorBody), {
    status,
    headers: { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8' },
  });

export function createAppProtocolHandler(options: AppProtocolOptions): (request: Request) => Promise<Response> {
  const root = path.resolve(options.rendererDir);
  async function proxy(request: Request, url: URL): Promise<Response> {
    const upstream = options.upstream();
    if (!upstream) {
      return errorResponse(
        503,
        'not_configured',
        'No pool is set up yet: enter the coordinator address and token in Settings, or host the pool on this PC.',
      );
    }
    const headers = new Headers();
    request.headers.forEach((value, name) => {
      if (!HOP_HEADERS.has(name)) headers.set(name, value);
    });
    if (!headers.has('authorization') && upstream.token) headers.set('authorization', `Bearer ${upstream.token}`);
    const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
    const init: RequestInit & { duplex?: 'half' } = { method: request.method, headers, redirect: 'manual', signal: request.signal };
    if (hasBody && request.body) {
      // A body the size of an API call is read first, so that the transport can send it again to the next node
      // when one is down; a bundle upload streams (and goes to one node).
      const length = Number(request.headers.get('content-length') ?? NaN);
      const json = (request.headers.get('content-type') ?? '').startsWith('application/json');
      if (length <= PROXY_RESENDABLE_BODY_BYTES || (Number.isNaN(length) && json)) {
        init.body = new Uint8Array(await request.arrayBuffer());
      } else {
        init.body = request.body;
        init.duplex = 'half';
      }
    }
    let response: Response;
    try {
      response = await upstream.fetch(`${upstream.baseUrl.replace(/\/+$/, '')}${url.pathname}${url.search}`, init);
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      return errorResponse(502, 'unreachable', `cannot reach the coordinator at ${upstream.servers.join(', ')}: ${(err as Error).message}`);
    }
    const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (response.body && response.status !== 204 && !PROXIED_TYPES.includes(type)) {
      await response.body.cancel();
      return errorResponse(502, 'bad_upstream', `the coordinator answered with ${type || 'no content type'}, which the app does not accept`);
    }
    const responseHeaders = new Headers();
    response.headers.forEach((value, name) => {
      if (!HOP_HEADERS.has(name)) responseHeaders.set(name, value);
    });
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) responseHeaders.set(name, value);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers: responseHeaders });
  }

  async function serveFile(url: URL): Promise<Response> {
    let relative: string;
    try {
      relative = decodeURIComponent(url.pathname);
    } catch {
      return errorResponse(400, 'bad_path', 'malformed path');
    }
    if (relative === '/' || relative === '') relative = '/index.html';
    const file = path.resolve(root, `.${relative}`);
    if (!file.startsWith(root + path.sep)) return errorResponse(404, 'not_found', 'not found');
    let body: Buffer;
    try {
      body = await fs.readFile(file);
    } catch {
      return errorResponse(404, 'not_found', 'not found');
    }
    const type = CONTENT_TYPES[path.extname(file).toLowerCase()];
    // Only the kinds of file a built renderer has: anything else is not served into the app's origin.
    if (!type) return errorResponse(404, 'not_found', 'not found');
    return new Response(new Uint8Array(body), {
      status: 200,
      headers: {
        'content-type': type,
        ...SECURITY_HEADERS,
        'cache-control': 'no-cache',
      },
    });
  }

  return async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (url.pathname === API_PREFIX || url.pathname.startsWith(`${API_PREFIX}/`)) return proxy(request, url);
    if (request.method !== 'GET' && request.method !== 'HEAD') return errorResponse(405, 'method_not_allowed', 'method not allowed');
    return serveFile(url);
  };
}
