// The invite link, `cmdx://join?url=…&code=…&fp=…`: the coordinator makes it (with its https page and QR code),
// the desktop app opens it (main/join-invite.ts). Everything in it is checked here, because anyone can send a
// link: only an https:// coordinator, an enrollment code, and the certificate fingerprint to pin.
import { canonicalFingerprint } from './pool-record';

export const JOIN_LINK_SCHEME = 'cmdx';

export interface JoinLink {
  /** The coordinator's origin, `https://host:port`. */
  url: string;
  /** The enrollment code (an invite). */
  code: string;
  /** SHA-256 of the coordinator's certificate, `AB:CD:…`: the only certificate the app will talk to there. */
  fingerprint: string;
}

/** A link that cannot be used, and why, in words for the person who opened it. */
export class JoinLinkError extends Error {
  override name = 'JoinLinkError';
}

const MAX_LINK = 4096;

export function joinLink({ url, code, fingerprint }: JoinLink): string {
  const query = new URLSearchParams({ url, code, fp: fingerprint });
  return `${JOIN_LINK_SCHEME}://join?${query.toString()}`;
}

/** The link's parts, checked; throws JoinLinkError with the reason otherwise. */
export function parseJoinLink(raw: string): JoinLink {
  const text = raw.trim();
  if (text.length > MAX_LINK) throw new JoinLinkError(`this invite link is too long (${text.length} characters; at most ${MAX_LINK})`);
  let link: URL;
  try {
    link = new URL(text);
  } catch {
    throw new JoinLinkError('this is not a link: an invite link looks like cmdx://join?url=…&code=…&fp=…');
  }
  if (link.protocol !== `${JOIN_LINK_SCHEME}:`) {
    throw new JoinLinkError(`this is a ${link.protocol.replace(/:$/, '')}: link, not an invite: an invite link starts with cmdx://join`);
  }
  if (link.hostname !== 'join' || (link.pathname !== '' && link.pathname !== '/')) {
    throw new JoinLinkError('this cmdx: link is not an invite: an invite link starts with cmdx://join');
  }
  const param = (name: string, what: string): string => {
    const values = link.searchParams.getAll(name);
    if (values.length === 0 || !values[0]) throw new JoinLinkError(`this invite link has no ${what} (${name}=): ask for a new invite`);
    if (values.length > 1) throw new JoinLinkError(`this invite link has ${name}= twice: ask for a new invite`);
    return values[0];
  };
  const rawUrl = param('url', "pool address");
  let server: URL;
  try {
    server = new URL(rawUrl);
  } catch {
    throw new JoinLinkError(`the pool address in this invite link ("${rawUrl.slice(0, 100)}") is not a URL`);
  }
  if (server.protocol !== 'https:') {
    throw new JoinLinkError(`the pool address in this invite link is ${server.protocol.replace(/:$/, '')}://, not https://: the code would cross the network in clear text, so it is refused`);
  }
  if (server.username || server.password) throw new JoinLinkError('the pool address in this invite link carries a user name or password: refused');
  if ((server.pathname !== '/' && server.pathname !== '') || server.search || server.hash) {
    throw new JoinLinkError('the pool address in this invite link has a path or query after the host and port: refused');
  }
  const code = param('code', 'enrollment code');
  if (code.length > 512 || !/^[\x21-\x7e]+$/.test(code)) throw new JoinLinkError('the enrollment code in this invite link is not a code (printable characters, no spaces)');
  const rawFingerprint = param('fp', 'certificate fingerprint');
  const fingerprint = canonicalFingerprint(rawFingerprint);
  if (!fingerprint) throw new JoinLinkError('the certificate fingerprint in this invite link is not a SHA-256 fingerprint (64 hex digits)');
  return { url: server.origin, code, fingerprint };
}
