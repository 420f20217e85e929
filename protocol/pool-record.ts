// What a pool says about itself on the LAN: the DNS-SD service `_cmdx._tcp` whose TXT record carries its name,
// version, protocol version, TLS fingerprint and URL scheme. The coordinator writes it, the desktop app and
// `npm run worker -- --discover` read it back here. Being found proves nothing: joining still takes an enrollment
// code, and the fingerprint read here is pinned on the connection that uses it.

/** The DNS-SD service type, without the underscores and protocol: `_cmdx._tcp`. */
export const POOL_SERVICE_TYPE = 'cmdx';

/** How long `worker --discover` and the app's pool list listen: mDNS answers come within a second on a LAN. */
export const DISCOVERY_TIMEOUT_MS = 2000;

/** The pool as it describes itself (`GET /api/v1/pool` answers the same, plus nothing secret). */
export interface PoolAdvert {
  name: string;
  version: string;
  protocolVersion: number;
  /** SHA-256 of its TLS certificate (`AB:CD:…`); null when it serves plain HTTP. */
  fingerprint: string | null;
  scheme: 'https' | 'http';
}

/** A pool found on the LAN: its advert and where to reach it. */
export interface DiscoveredPool extends PoolAdvert {
  /** `https://192.168.1.20:8080`: what goes into Settings (or --server). */
  url: string;
}

const MAX_NAME = 63;

/** Upper-case, colon-separated (`AB:CD:…`), or null when it is not a SHA-256 fingerprint. */
export function canonicalFingerprint(raw: string): string | null {
  const hex = raw.replace(/:/g, '').toUpperCase();
  return /^[0-9A-F]{64}$/.test(hex) ? hex.match(/../g)!.join(':') : null;
}

/** Text from the network, fit to show: control characters (terminal escapes, new lines) dropped. */
export function oneLine(text: string): string {
  return [...text].filter((c) => c.charCodeAt(0) >= 0x20 && (c.charCodeAt(0) < 0x7f || c.charCodeAt(0) > 0x9f)).join('').trim();
}

/** The TXT record's keys and values (each well under DNS's 255 bytes). */
export function encodePoolTxt(advert: PoolAdvert): Record<string, string> {
  return {
    name: advert.name.slice(0, MAX_NAME),
    version: advert.version,
    proto: String(advert.protocolVersion),
    fp: advert.fingerprint ?? '',
    scheme: advert.scheme,
  };
}

/** The advert in a TXT record, or why it is not one of ours (a record from another program, a garbled one). */
export function decodePoolTxt(txt: unknown): PoolAdvert | { invalid: string } {
  if (!txt || typeof txt !== 'object') return { invalid: 'no TXT record' };
  const text = (key: string): string => {
    const value = (txt as Record<string, unknown>)[key];
    if (typeof value === 'string') return value;
    if (value instanceof Uint8Array) return new TextDecoder().decode(value);
    return '';
  };
  const scheme = text('scheme');
  if (scheme !== 'https' && scheme !== 'http') return { invalid: `scheme "${scheme}" is neither https nor http` };
  const protocolVersion = Number(text('proto'));
  if (!Number.isInteger(protocolVersion) || protocolVersion < 1) return { invalid: `protocol version "${text('proto')}" is not a number` };
  const rawFingerprint = text('fp');
  const fingerprint = rawFingerprint ? canonicalFingerprint(rawFingerprint) : null;
  if (rawFingerprint && !fingerprint) return { invalid: 'its fingerprint is not a SHA-256 fingerprint' };
  if (scheme === 'https' && !fingerprint) return { invalid: 'it serves HTTPS but gives no certificate fingerprint' };
  // Shown to people: one line of printable text.
  const name = oneLine(text('name')).slice(0, MAX_NAME);
  if (!name) return { invalid: 'it has no name' };
  return { name, version: text('version').slice(0, 32) || 'unknown', protocolVersion, fingerprint, scheme };
}

/** `host:port` as a URL authority (IPv6 in brackets). */
export function poolUrl(scheme: 'https' | 'http', address: string, port: number): string {
  return `${scheme}://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** The pools to show: one per URL (the latest answer wins), by name then URL. */
export function poolList(found: Iterable<DiscoveredPool>): DiscoveredPool[] {
  const byUrl = new Map<string, DiscoveredPool>();
  for (const pool of found) byUrl.set(pool.url, pool);
  return [...byUrl.values()].sort((a, b) => a.name.localeCompare(b.name) || a.url.localeCompare(b.url));
}

/** One line per pool for `npm run worker -- --discover`: name, URL, fingerprint, version. */
export function poolLine(pool: DiscoveredPool, speaks: number): string {
  const protocol = pool.protocolVersion === speaks ? '' : `  (protocol ${pool.protocolVersion}; this worker speaks ${speaks})`;
  return `${pool.name}  ${pool.url}  ${pool.fingerprint ? `fingerprint ${pool.fingerprint}` : 'plain HTTP'}  v${pool.version}${protocol}`;
}
