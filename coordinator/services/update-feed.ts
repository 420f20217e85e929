// Desktop updates: `node coordinator publish-update DIR` takes electron-builder's output (latest*.yml and the
// installers they list), checks every file against the sha512 and size its yml gives, and copies the release into
// DATA_DIR/updates, from where the coordinator serves it as an electron-updater "generic" feed.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { load } from 'js-yaml';
import type { Worker } from '../../protocol/api';
import { compareVersions, protocolMismatch } from '../../protocol/versions';

/** electron-builder's channel files: latest.yml (Windows), latest-linux.yml, latest-mac.yml, beta-linux-arm64.yml… */
const CHANNEL_FILE = /^(latest|beta|alpha)(-[a-z0-9]+)*\.yml$/;
/** Names the feed serves: flat file names, no path (a yml cannot point the feed outside its folder). */
const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._ +-]*$/;

export class PublishError extends Error {
  override name = 'PublishError';
}

interface ChannelFile {
  name: string;
  version: string;
  files: { url: string; sha512: string; size: number | null }[];
}

function readChannel(name: string, text: string): ChannelFile {
  let info: unknown;
  try {
    info = load(text);
  } catch (err) {
    throw new PublishError(`${name} is not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
  const doc = info as { version?: unknown; files?: unknown; path?: unknown; sha512?: unknown } | null;
  if (!doc || typeof doc.version !== 'string') throw new PublishError(`${name} has no version: is it electron-builder's output?`);
  const listed = Array.isArray(doc.files) ? (doc.files as { url?: unknown; sha512?: unknown; size?: unknown }[]) : [];
  // Old electron-builder files give one installer as path + sha512 instead of a files list.
  if (listed.length === 0 && typeof doc.path === 'string') listed.push({ url: doc.path, sha512: doc.sha512 });
  if (listed.length === 0) throw new PublishError(`${name} lists no installer`);
  const files = listed.map((file) => {
    if (typeof file.url !== 'string' || !PLAIN_NAME.test(file.url)) {
      throw new PublishError(`${name} lists "${String(file.url)}": the feed serves files next to the yml, by plain name`);
    }
    if (typeof file.sha512 !== 'string') throw new PublishError(`${name} gives no sha512 for ${file.url}`);
    return { url: file.url, sha512: file.sha512, size: typeof file.size === 'number' ? file.size : null };
  });
  return { name, version: doc.version, files };
}

const sha512Of = (file: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const hash = createHash('sha512');
    createReadStream(file)
      .on('error', reject)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('base64')));
  });

export interface PublishedRelease {
  version: string;
  channels: string[];
  files: string[];
}

/**
 * Checks `sourceDir` (every file each channel file lists: present, sha512 and size as given) and makes it the feed
 * in `feedDir`. Installers land first and the channel files last, each by rename, so a client never reads a yml
 * whose installer is missing; files of the previous release are then removed (a download under way keeps its open file).
 */
export async function publishUpdate(sourceDir: string, feedDir: string): Promise<PublishedRelease> {
  let names: string[];
  try {
    names = await readdir(sourceDir);
  } catch (err) {
    throw new PublishError(`cannot read ${sourceDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const channelNames = names.filter((n) => CHANNEL_FILE.test(n));
  if (channelNames.length === 0) {
    throw new PublishError(`no latest.yml, latest-linux.yml or latest-mac.yml in ${sourceDir}: give electron-builder's output folder (dist/)`);
  }
  const channels = await Promise.all(channelNames.map(async (n) => readChannel(n, await readFile(join(sourceDir, n), 'utf8'))));
  const versions = new Set(channels.map((c) => c.version));
  if (versions.size > 1) throw new PublishError(`the channel files disagree on the version (${[...versions].join(', ')}): publish one build`);

  const payload = new Set<string>();
  for (const channel of channels) {
    for (const file of channel.files) {
      const path = join(sourceDir, file.url);
      const info = await stat(path).catch(() => null);
      if (!info?.isFile()) throw new PublishError(`${channel.name} lists ${file.url}, which is not in ${sourceDir}`);
      if (file.size !== null && info.size !== file.size) {
        throw new PublishError(`${file.url} is ${info.size} bytes; ${channel.name} says ${file.size}: the folder holds another build`);
      }
      if ((await sha512Of(path)) !== file.sha512) {
        throw new PublishError(`${file.url} does not match the sha512 in ${channel.name}: the folder holds another build, or the file is damaged`);
      }
      payload.add(file.url);
      // The block map lets electron-updater fetch only the changed blocks (differential download).
      if (names.includes(`${file.url}.blockmap`)) payload.add(`${file.url}.blockmap`);
    }
  }

  await mkdir(feedDir, { recursive: true });
  const staging = join(feedDir, `.staging-${randomBytes(6).toString('hex')}`);
  await mkdir(staging);
  try {
    for (const name of [...payload, ...channelNames]) await copyFile(join(sourceDir, name), join(staging, name));
    for (const name of [...payload, ...channelNames]) await rename(join(staging, name), join(feedDir, name));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  const keep = new Set([...payload, ...channelNames]);
  for (const old of await readdir(feedDir)) {
    if (!keep.has(old) && !old.startsWith('.staging-')) await unlink(join(feedDir, old)).catch(() => undefined);
  }
  return { version: channels[0]!.version, channels: channelNames, files: [...payload] };
}

/** Why a worker should be updated (the workers view marks it), or null: its protocol, then its version against the feed's. */
export function outdatedBecause(worker: Pick<Worker, 'version' | 'protocolVersion'>, published: string | null): string | null {
  const mismatch = protocolMismatch(worker.protocolVersion ?? 1);
  if (mismatch) return mismatch;
  if (published === null) return null;
  if (worker.version === null) return `reports no version; ${published} is published`;
  return compareVersions(worker.version, published) < 0 ? `${worker.version}; ${published} is published` : null;
}

/** The published feed as the coordinator serves it. */
export class UpdateFeed {
  constructor(readonly dir: string) {}

  /** The path of a file the feed serves, or null (not published, or not a plain name). */
  async file(name: string): Promise<{ path: string; size: number; mtime: Date } | null> {
    if (!PLAIN_NAME.test(name) || name.startsWith('.staging-')) return null;
    const path = join(this.dir, basename(name));
    const info = await stat(path).catch(() => null);
    return info?.isFile() ? { path, size: info.size, mtime: info.mtime } : null;
  }

  /** The newest version published (the workers view marks older desktop apps and agents); null if none is. */
  async latestVersion(): Promise<string | null> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    let newest: string | null = null;
    for (const name of names.filter((n) => CHANNEL_FILE.test(n))) {
      try {
        const { version } = readChannel(name, await readFile(join(this.dir, name), 'utf8'));
        if (newest === null || compareVersions(version, newest) > 0) newest = version;
      } catch {
        // Removed or replaced between readdir and read: the next call sees the new one.
      }
    }
    return newest;
  }
}
