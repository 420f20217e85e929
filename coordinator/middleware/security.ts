// Every response carries the browser security headers; a request naming a host this coordinator is not (DNS
// rebinding: a web page whose name now points here) is refused before anything else runs.
import { isIP } from 'node:net';
import os from 'node:os';
import type { Next } from 'koa';
import { isLoopbackHost } from '../../protocol/addresses';
import { SECURITY_HEADERS } from '../../protocol/web-security';
import { HttpError } from '../errors';
import type { AppContext } from './context';

/** The Host header without its port, lower case: `[::1]:80` → `::1`. */
export function hostName(header: string): string {
  const bare = header.startsWith('[') ? header.slice(1, header.indexOf(']')) : header.replace(/:\d+$/, '');
  return bare.toLowerCase();
}

/** Addresses (any IP), loopback names, this machine's names, and the names the operator allows. */
export function hostAllowed(name: string, allowed: readonly string[]): boolean {
  if (isIP(name) || isLoopbackHost(name)) return true;
  const own = os.hostname().toLowerCase();
  return name === own || name === `${own}.local` || name.startsWith(`${own}.`) || allowed.some((a) => a.toLowerCase() === name);
}

/** Refuses a request whose Host header names a host this coordinator does not answer to (421). */
export function requireKnownHost(header: string | undefined, allowedHosts: readonly string[]): void {
  const name = hostName(header ?? '');
  if (!hostAllowed(name, allowedHosts)) {
    throw new HttpError(
      421,
      'unknown_host',
      `this coordinator does not answer to the name "${name}"; its operator can allow it with --allowed-host ${name}`,
    );
  }
}

export function securityHeaders(allowedHosts: readonly string[]) {
  return async function guardHostAndHeaders(ctx: AppContext, next: Next): Promise<void> {
    ctx.set(SECURITY_HEADERS);
    requireKnownHost(ctx.get('host'), allowedHosts);
    await next();
  };
}
