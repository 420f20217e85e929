// How the agent, the CLIs and the desktop app's proxy reach a coordinator: never plain HTTP across the network
// (unless told), and over HTTPS either the system's trust, a CA file, or the certificate's pinned SHA-256
// fingerprint (the coordinator's self-signed certificate, whose fingerprint comes with the invite).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { Agent as Dispatcher, type buildConnector } from 'undici';
import { isLoopbackHost, parseServerList } from '../../protocol/addresses';

export interface TransportOptions {
  /** The certificate's SHA-256 (`AB:CD:…`, colons and case optional): trusted whoever signed it. */
  fingerprint?: string;
  /** A PEM file of the CA that signed the coordinator's certificate. */
  caFile?: string;
  /** Allow http:// to a non-loopback address (tokens and jobs cross the network readable by anyone). */
  insecureHttp?: boolean;
}

export class TransportError extends Error {
  override name = 'TransportError';
}

const normalize = (fingerprint: string) => fingerprint.replace(/:/g, '').toUpperCase();

/** Refuses what would send tokens in clear text or pin nothing. */
export function checkServerUrl(server: string, options: TransportOptions): void {
  const url = new URL(server);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname) && !options.insecureHttp) {
    throw new TransportError(
      `${server} is plain HTTP to another machine: tokens and jobs would cross the network in clear text. Use the https:// address (with --fingerprint from the invite), or pass --insecure-http`,
    );
  }
  if (options.fingerprint && !/^[0-9A-F]{64}$/.test(normalize(options.fingerprint))) {
    throw new TransportError(`--fingerprint "${options.fingerprint}" is not a SHA-256 fingerprint (64 hex digits, colons optional)`);
  }
}

/** A TLS connector that accepts exactly the certificate with this fingerprint. */
function pinnedConnector(fingerprint: string): buildConnector.connector {
  const want = normalize(fingerprint);
  return (options, callback) => {
    const socket = tls.connect({
      host: options.hostname,
      port: Number(options.port) || 443,
      ...(isIP(options.hostname) ? {} : { servername: options.servername ?? options.hostname }),
      // The chain is not what is trusted here: the pinned fingerprint is, checked below before any byte is sent.
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    socket.once('secureConnect', () => {
      const got = socket.getPeerCertificate().fingerprint256 ?? '';
      if (normalize(got) === want) {
        callback(null, socket);
        return;
      }
      socket.destroy();
      callback(
        new TransportError(
          `the coordinator's certificate (SHA-256 ${got}) is not the pinned one (${fingerprint}): refusing to connect, this may be another server or a man in the middle`,
        ),
        null,
      );
    });
    socket.once('error', (err) => callback(err, null));
    return socket;
  };
}

/** Where a request carries the maker of its streamed body (see `resendable`). */
const REMAKE_BODY = Symbol('cmdx.remakeBody');

/**
 * A request whose streamed body can be made again (a file re-opened from its start): the failover transport sends
 * it to the next node like any other, each try with a fresh body. Its headers go again as they were, the submit's
 * Idempotency-Key with them, so a resend after a node took the first never makes a second job.
 */
export function resendable(init: RequestInit, makeBody: () => ReadableStream<Uint8Array>): RequestInit {
  return Object.assign({ ...init, body: makeBody() }, { [REMAKE_BODY]: makeBody });
}

/** Answers of a node going away or a proxy in front of one: the next node may serve the request. */
const NODE_UNAVAILABLE = new Set([502, 503, 504]);

/**
 * A fetch for these coordinators (several nodes of one pool sharing a database), after checking each URL. A
 * request for any of them goes to the node that last answered; on a network failure (refused, reset, timed out)
 * or a 502/503/504 it is sent to the next node, each tried once. Sending again is safe: the coordinator takes
 * output by sequence number, a completion twice, and a submit by its Idempotency-Key (one job, whichever node
 * took it). The pin or CA applies to every node (one pool, one certificate).
 */
export function transportFetch(servers: string | readonly string[], options: TransportOptions = {}): typeof fetch {
  let list: string[];
  try {
    list = typeof servers === 'string' ? parseServerList(servers) : [...servers];
  } catch (err) {
    throw new TransportError((err as Error).message);
  }
  for (const server of list) checkServerUrl(server, options);
  const dispatcher = !options.fingerprint && !options.caFile
    ? undefined
    : options.fingerprint
      ? new Dispatcher({ connect: pinnedConnector(options.fingerprint) })
      : new Dispatcher({ connect: { ca: readFileSync(options.caFile!) } });
  const send = (url: string, init?: RequestInit) =>
    globalThis.fetch(url, dispatcher && url.startsWith('https:') ? ({ ...init, dispatcher } as RequestInit) : init);
  if (list.length === 1) return ((input: Parameters<typeof fetch>[0], init?: RequestInit) => send(String(input), init)) as typeof fetch;
  let active = 0;
  return (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const url = String(input);
    const node = list.findIndex((server) => url === server || url.startsWith(`${server}/`));
    if (node < 0) return send(url, init);
    const path = url.slice(list[node]!.length);
    // A streamed body is read by the first try: it goes again only if it can be made again.
    const remakeBody = (init as { [REMAKE_BODY]?: () => ReadableStream<Uint8Array> } | undefined)?.[REMAKE_BODY];
    const attempts = init?.body instanceof ReadableStream && !remakeBody ? 1 : list.length;
    const first = active;
    let failure: unknown;
    const tried: string[] = [];
    for (let attempt = 0; attempt < attempts; attempt++) {
      const index = (first + attempt) % list.length;
      tried.push(list[index]!);
      const request = attempt > 0 && remakeBody ? { ...init, body: remakeBody() } : init;
      try {
        const response = await send(`${list[index]}${path}`, request);
        if (NODE_UNAVAILABLE.has(response.status) && attempt < attempts - 1) {
          await response.body?.cancel().catch(() => undefined);
          continue;
        }
        active = index;
        return response;
      } catch (err) {
        if ((err as Error).name === 'AbortError' || init?.signal?.aborted) throw err;
        failure = err;
      }
    }
    // Each node tried failed: say so, with the last node's cause (what networkFailure shows a person).
    // (A streamed body that cannot be made again was tried at one node only: say which.)
    const where = tried.length > 1 ? `each of ${tried.join(', ')}` : tried[0];
    throw new TypeError(`fetch failed at ${where}`, { cause: (failure as Error).cause ?? failure });
  }) as typeof fetch;
}
