// Opening an invite link (cmdx://join?url=…&code=…&fp=…) in the desktop app, without Electron: check the link,
// ask the pool who it is over a connection pinned to the link's fingerprint (a server with another certificate is
// refused before anything is sent), say what joining means for the owner to confirm, and the settings it makes.
// main/index.ts shows the question in a native dialog and applies the answer; the tests run the rest under Node.
import { PROTOCOL_VERSION } from '../protocol/api';
import type { Settings, SettingsPatch } from '../protocol/ipc';
import { JOIN_LINK_SCHEME, JoinLinkError, parseJoinLink, type JoinLink } from '../protocol/join-link';
import { decodePoolTxt, type PoolAdvert } from '../protocol/pool-record';
import { transportFetch } from './agent/transport';

export { JoinLinkError };

export interface JoinProposal extends JoinLink {
  /** What the pool says of itself, over the pinned connection. */
  pool: PoolAdvert;
}

/** The link, checked, and the pool behind it, asked over a connection pinned to the link's fingerprint. */
export async function prepareJoin(raw: string, fetchFor: typeof transportFetch = transportFetch): Promise<JoinProposal> {
  const link = parseJoinLink(raw);
  let answer: unknown;
  try {
    const response = await fetchFor(link.url, { fingerprint: link.fingerprint })(`${link.url}/api/v1/pool`, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`it answered ${response.status}`);
    answer = await response.json();
  } catch (err) {
    const why = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
    throw new JoinLinkError(`cannot check the pool at ${link.url}: ${why}`);
  }
  // The same checks as an advertisement on the LAN gets.
  const said = (answer ?? {}) as Record<string, unknown>;
  const pool = decodePoolTxt({ name: said.name, version: said.version, proto: String(said.protocolVersion), fp: said.fingerprint ?? '', scheme: said.scheme });
  if ('invalid' in pool) throw new JoinLinkError(`the server at ${link.url} is not a cmd-executor pool (${pool.invalid})`);
  if (pool.protocolVersion !== PROTOCOL_VERSION) {
    throw new JoinLinkError(`the pool at ${link.url} speaks protocol ${pool.protocolVersion}; this app speaks ${PROTOCOL_VERSION}: update the one that is older`);
  }
  return { ...link, pool };
}

/** The question for the owner: the pool's name and the fingerprint they can compare with the invite's page. */
export function confirmation(proposal: JoinProposal, current: Settings): { message: string; detail: string } {
  const hosting = current.hostPool ? ' This PC stops hosting its own pool.' : '';
  const leaving = current.coordinatorUrls.includes(proposal.url) ? [] : current.coordinatorUrls;
  const replacing = !current.hostPool && leaving.length ? ` It leaves ${leaving.join(', ')}.` : '';
  return {
    message: `Join the pool “${proposal.pool.name}”?`,
    detail:
      `Address: ${proposal.url}\nCertificate SHA-256: ${proposal.fingerprint}\nVersion: ${proposal.pool.version}\n\n` +
      `This PC will lend its idle time to this pool's jobs, and trust only that certificate there.${hosting}${replacing} ` +
      'Only join a pool whose invite you expected.',
  };
}

/**
 * The settings joining makes: the pool's address, its pinned certificate and the enrollment code. An invite from
 * one of the nodes already listed keeps the list (the pool's other nodes stay the failover).
 */
export function joinPatch(proposal: JoinProposal, current: Settings): SettingsPatch {
  const coordinatorUrls = current.coordinatorUrls.includes(proposal.url) ? current.coordinatorUrls : [proposal.url];
  return { hostPool: false, coordinatorUrls, coordinatorFingerprint: proposal.fingerprint, joinToken: proposal.code };
}

/** The invite link among a command line's arguments (Windows and Linux start the app, or a second instance, with it). */
export function joinLinkIn(argv: readonly string[]): string | null {
  return argv.find((arg) => arg.toLowerCase().startsWith(`${JOIN_LINK_SCHEME}:`)) ?? null;
}
