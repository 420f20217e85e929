// How the agent, the CLIs and the desktop app's proxy reach a coordinator: never plain HTTP across the network
// (unless told), and over HTTPS either the system's trust, a CA file, or the certificate's pinned SHA-256
// fingerprint (the coordinator's self-signed certificate, whose fingerprint comes with the invite).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { Agent as Dispatcher, type buildConnector } from 'undici';
import { isLoopbackHost } from '../../protocol/addresses';

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

/** A fetch for this coordinator (global fetch when nothing needs pinning or a CA), after checking its URL. */
export function transportFetch(server: string, options: TransportOptions = {}): typeof fetch {
  checkServerUrl(server, options);
  if (!server.startsWith('https:') || (!options.fingerprint && !options.caFile)) return globalThis.fetch.bind(globalThis);
  const dispatcher = options.fingerprint
    ? new Dispatcher({ connect: pinnedConnector(options.fingerprint) })
    : new Dispatcher({ connect: { ca: readFileSync(options.caFile!) } });
  return ((input: Parameters<typeof fetch>[0], init?: RequestInit) =>
    globalThis.fetch(input, { ...init, dispatcher } as RequestInit)) as typeof fetch;
}
