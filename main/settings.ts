// The app's settings: one JSON file in userData, validated with the shared schema, written atomically (temp file +
// rename, so a crash mid-write leaves the old file), and never a reason to crash: a corrupt, invalid or too-old file
// is kept aside as `settings.json.bad-<time>`, the defaults take its place, and the caller gets a notice to show.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { migrateSettings, settingsSchema, type Settings } from '../protocol/ipc';

/**
 * How tokens rest in the settings file: sealed by the OS (Electron's safeStorage: Keychain, DPAPI, libsecret) so
 * another program reading the file gets nothing usable; in the clear only where the OS offers no such store.
 */
export interface TokenSealer {
  seal(plain: string): string;
  unseal(sealed: string): string;
}

const SEALED_PREFIX = 'sealed:';
const TOKEN_FIELDS = ['token', 'joinToken'] as const;

function sealTokens(settings: Settings, sealer: TokenSealer | null): Settings {
  if (!sealer) return settings;
  const sealed = { ...settings };
  for (const field of TOKEN_FIELDS) if (sealed[field]) sealed[field] = `${SEALED_PREFIX}${sealer.seal(sealed[field])}`;
  return sealed;
}

/** The settings with their tokens in the clear; a token that cannot be unsealed (another user, another PC) is dropped. */
function unsealTokens(settings: Settings, sealer: TokenSealer | null): { settings: Settings; lost: string[] } {
  const open = { ...settings };
  const lost: string[] = [];
  for (const field of TOKEN_FIELDS) {
    if (!open[field].startsWith(SEALED_PREFIX)) continue;
    try {
      if (!sealer) throw new Error('no key store');
      open[field] = sealer.unseal(open[field].slice(SEALED_PREFIX.length));
    } catch {
      open[field] = '';
      lost.push(field);
    }
  }
  return { settings: open, lost };
}

/** The settings as the window gets them: tokens stay in the main process (the app:// proxy adds them to requests). */
export function withoutTokens(settings: Settings): Settings {
  return { ...settings, token: '', joinToken: '' };
}

/**
 * What a settings change from the window would redirect, for the main process to confirm natively first: a
 * compromised page must not be able to send this PC's work or tokens to another coordinator by itself.
 */
export function redirectionOf(current: Settings, patch: Partial<Settings>): string | null {
  const changes: string[] = [];
  if (patch.coordinatorUrls !== undefined && patch.coordinatorUrls.join(' ') !== current.coordinatorUrls.join(' ')) {
    changes.push(`connect to ${patch.coordinatorUrls.join(', ') || '(no coordinator)'}`);
  }
  if (patch.coordinatorFingerprint !== undefined && patch.coordinatorFingerprint !== current.coordinatorFingerprint) {
    changes.push(`trust the certificate ${patch.coordinatorFingerprint || '(any the system trusts)'}`);
  }
  if (patch.joinToken !== undefined && patch.joinToken !== current.joinToken) changes.push('join the pool with a new join token');
  return changes.length ? `This PC will ${changes.join(', and ')}.` : null;
}

export interface LoadedSettings {
  store: SettingsStore;
  /** Set when the file was replaced by the defaults: what happened and where the old file went. */
  notice: string | null;
}

export class SettingsStore {
  private current: Settings;
  private writes: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<(settings: Settings) => void>();

  private constructor(
    readonly file: string,
    initial: Settings,
    private readonly sealer: TokenSealer | null,
  ) {
    this.current = initial;
  }

  static async open(file: string, now: () => Date = () => new Date(), sealer: TokenSealer | null = null): Promise<LoadedSettings> {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return { store: new SettingsStore(file, settingsSchema.parse({}), sealer), notice: null };
      }
      // Unreadable (permissions, a folder in its place): work with defaults and leave the file alone.
      return {
        store: new SettingsStore(file, settingsSchema.parse({}), sealer),
        notice: `Could not read the settings file ${file} (${(err as Error).message}); using the defaults for now.`,
      };
    }
    const problem = problemWith(text);
    if (problem === null) {
      const written = JSON.parse(text) as unknown;
      const migrated = migrateSettings(written);
      const onDisk = settingsSchema.parse(migrated);
      const { settings, lost } = unsealTokens(onDisk, sealer);
      const store = new SettingsStore(file, settings, sealer);
      // Tokens kept in the clear by an older version (or where no key store was) are sealed now; an older
      // version's shape is written in this one's.
      const inClear = TOKEN_FIELDS.some((field) => onDisk[field] && !onDisk[field].startsWith(SEALED_PREFIX));
      if ((sealer && inClear) || migrated !== written) await store.save().catch(() => undefined);
      const notice = lost.length ? `The saved ${lost.join(' and ')} could not be unsealed on this account; enter them again in Settings.` : null;
      return { store, notice };
    }
    const store = new SettingsStore(file, settingsSchema.parse({}), sealer);
    const backup = `${file}.bad-${now().toISOString().replace(/[:.]/g, '-')}`;
    try {
      await fs.rename(file, backup);
      await store.save();
      return {
        store,
        notice: `The settings file ${problem}. It was kept as ${path.basename(backup)} and the defaults were restored.`,
      };
    } catch (err) {
      return {
        store,
        notice: `The settings file ${problem}, and it could not be replaced (${(err as Error).message}); using the defaults for now.`,
      };
    }
  }

  get(): Settings {
    return this.current;
  }

  /** Applies `patch` and persists; throws (and keeps the old settings) when the result would be invalid. */
  async update(patch: Partial<Settings>): Promise<Settings> {
    const result = settingsSchema.safeParse({ ...this.current, ...patch });
    if (!result.success) throw new Error(`invalid settings: ${describeIssues(result.error)}`);
    this.current = result.data;
    await this.save();
    for (const listener of this.listeners) listener(this.current);
    return this.current;
  }

  onChange(listener: (settings: Settings) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Writes are queued so two quick updates cannot interleave; each writes the settings as they are by then. */
  private save(): Promise<void> {
    const write = this.writes.then(() =>
      writeAtomically(this.file, `${JSON.stringify(sealTokens(this.current, this.sealer), null, 2)}\n`),
    );
    this.writes = write.catch(() => undefined);
    return write;
  }
}

function problemWith(text: string): string | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return `was not valid JSON (${(err as Error).message})`;
  }
  const result = settingsSchema.safeParse(migrateSettings(data));
  if (result.success) return null;
  const version = (data as { version?: unknown } | null)?.version;
  if (version !== undefined && version !== settingsSchema.shape.version.unwrap().value) {
    return `was written by another version of the app (settings version ${JSON.stringify(version)})`;
  }
  return `had invalid values (${describeIssues(result.error)})`;
}

const describeIssues = (error: z.ZodError): string =>
  error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || 'settings'}: ${issue.message}`)
    .join('; ');

async function writeAtomically(file: string, content: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const handle = await fs.open(temp, 'w', 0o600);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
}
