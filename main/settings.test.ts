import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCoordinatorUrls } from '../protocol/ipc';
import { redirectionOf, SettingsStore, withoutTokens } from './settings';

let dir: string;
let file: string;
const fixedNow = () => new Date('2025-03-03T09:15:00.000Z');

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cmdx-settings-'));
  file = path.join(dir, 'settings.json');
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const readJson = async (f: string) => JSON.parse(await fs.readFile(f, 'utf8')) as Record<string, unknown>;

describe('SettingsStore', () => {
  it('starts from the defaults when there is no file, and writes nothing until something changes', async () => {
    const { store, notice } = await SettingsStore.open(file);
    expect(notice).toBeNull();
    expect(store.get()).toMatchObject({
      contributeWhenIdle: false,
      idleMinutes: 5,
      onlyOnAC: true,
      maxOthersCpuPercent: 25,
      alwaysContribute: false,
      slots: 1,
      hostPool: false,
      pausedUntil: null,
    });
    await expect(fs.access(file)).rejects.toThrow();
  });

  it('persists updates and reads them back', async () => {
    const { store } = await SettingsStore.open(file);
    await store.update({ coordinatorUrls: ['http://pool-pc:8787', 'http://pool-pc2:8787'], idleMinutes: 15, labels: ['gpu', 'win'] });
    const again = await SettingsStore.open(file);
    expect(again.notice).toBeNull();
    expect(again.store.get()).toMatchObject({ coordinatorUrls: ['http://pool-pc:8787', 'http://pool-pc2:8787'], idleMinutes: 15, labels: ['gpu', 'win'] });
    expect(await readJson(file)).toMatchObject({ version: 1, idleMinutes: 15 });
    // the temp file of the atomic write is gone
    expect(await fs.readdir(dir)).toEqual(['settings.json']);
  });

  it('refuses an invalid update with a clear message and keeps the old value', async () => {
    const { store } = await SettingsStore.open(file);
    await expect(store.update({ idleMinutes: 0 })).rejects.toThrow(/^invalid settings: idleMinutes: /);
    await expect(store.update({ coordinatorUrls: ['http://pool-pc:8787', 'ftp://x'] })).rejects.toThrow(/^invalid settings: coordinatorUrls\.1: must be an http:\/\/ or https:\/\//);
    await expect(store.update({ coordinatorUrls: ['http://a:1', 'http://a:1/'] })).rejects.toThrow(/coordinatorUrls: http:\/\/a:1\/ is listed twice/);
    expect(store.get().idleMinutes).toBe(5);
  });

  it('tells listeners about each change', async () => {
    const { store } = await SettingsStore.open(file);
    const seen: boolean[] = [];
    const off = store.onChange((s) => seen.push(s.contributeWhenIdle));
    await store.update({ contributeWhenIdle: true });
    off();
    await store.update({ contributeWhenIdle: false });
    expect(seen).toEqual([true]);
  });

  it('serialises concurrent updates: the file ends with the last one', async () => {
    const { store } = await SettingsStore.open(file);
    await Promise.all([1, 2, 3, 4, 5].map((slots) => store.update({ slots })));
    expect((await readJson(file)).slots).toBe(5);
  });

  it('backs up a corrupt file, restores the defaults and says so', async () => {
    await fs.writeFile(file, '{"idleMinutes": 7,');
    const { store, notice } = await SettingsStore.open(file, fixedNow);
    expect(store.get().idleMinutes).toBe(5);
    expect(notice).toMatch(/^The settings file was not valid JSON \(.+\)\. It was kept as settings\.json\.bad-2025-03-03T09-15-00-000Z and the defaults were restored\.$/);
    expect(await fs.readFile(`${file}.bad-2025-03-03T09-15-00-000Z`, 'utf8')).toBe('{"idleMinutes": 7,');
    expect(await readJson(file)).toMatchObject({ version: 1, idleMinutes: 5 });
  });

  it('backs up a file with invalid values and names the bad field', async () => {
    await fs.writeFile(file, JSON.stringify({ version: 1, idleMinutes: 'soon', slots: 2 }));
    const { store, notice } = await SettingsStore.open(file, fixedNow);
    expect(notice).toMatch(/had invalid values \(idleMinutes: /);
    expect(store.get().slots).toBe(1);
  });

  it('treats a file of another settings version as old: reported and replaced', async () => {
    await fs.writeFile(file, JSON.stringify({ version: 0, idle: 3 }));
    const { notice } = await SettingsStore.open(file, fixedNow);
    expect(notice).toMatch(/written by another version of the app \(settings version 0\)/);
  });

  it('keeps working when the file cannot be read', async () => {
    await fs.mkdir(file);
    const { store, notice } = await SettingsStore.open(file);
    expect(notice).toMatch(/^Could not read the settings file/);
    expect(store.get().idleMinutes).toBe(5);
  });

  it('fills in fields a file from an older release lacks, and drops unknown ones', async () => {
    await fs.writeFile(file, JSON.stringify({ version: 1, contributeWhenIdle: true, retiredOption: 1 }));
    const { store, notice } = await SettingsStore.open(file);
    expect(notice).toBeNull();
    expect(store.get()).toMatchObject({ contributeWhenIdle: true, idleMinutes: 5 });
    expect(store.get()).not.toHaveProperty('retiredOption');
  });

  it('reads a file from before the list of coordinators: its one address becomes a list of one, written back so', async () => {
    await fs.writeFile(file, JSON.stringify({ version: 1, coordinatorUrl: 'https://pool-pc:8443', idleMinutes: 9 }));
    const { store, notice } = await SettingsStore.open(file);
    expect(notice).toBeNull();
    expect(store.get()).toMatchObject({ coordinatorUrls: ['https://pool-pc:8443'], idleMinutes: 9 });
    const written = await readJson(file);
    expect(written).toMatchObject({ coordinatorUrls: ['https://pool-pc:8443'], idleMinutes: 9 });
    expect(written).not.toHaveProperty('coordinatorUrl');

    await fs.writeFile(file, JSON.stringify({ version: 1, coordinatorUrl: '' }));
    expect((await SettingsStore.open(file)).store.get().coordinatorUrls).toEqual([]);
    // An old file with a bad address is reported like any other invalid value, naming the new field.
    await fs.writeFile(file, JSON.stringify({ version: 1, coordinatorUrl: 'ftp://pool-pc' }));
    expect((await SettingsStore.open(file, fixedNow)).notice).toMatch(/had invalid values \(coordinatorUrls\.0: must be an http/);
  });
});

describe('tokens at rest', () => {
  /** Stands in for Electron's safeStorage (the OS key store), which exists only inside Electron: keyed, reversible. */
  const keyed = (key: number) => ({
    seal: (plain: string) => Buffer.from([...Buffer.from(plain)].map((b) => b ^ key)).toString('base64'),
    unseal: (sealed: string) => {
      const bytes = Buffer.from([...Buffer.from(sealed, 'base64')].map((b) => b ^ key)).toString();
      if (!/^cmdx_/.test(bytes)) throw new Error('wrong key');
      return bytes;
    },
  });

  it('are sealed in the file, read back in the clear, and sealed on first open when an older file had them in clear', async () => {
    const { store } = await SettingsStore.open(file, fixedNow, keyed(0x5a));
    await store.update({ token: 'cmdx_submit_secret1', joinToken: 'cmdx_join_secret2' });
    const text = await fs.readFile(file, 'utf8');
    expect(text).not.toContain('secret1');
    expect(text).not.toContain('secret2');
    expect((await SettingsStore.open(file, fixedNow, keyed(0x5a))).store.get()).toMatchObject({ token: 'cmdx_submit_secret1', joinToken: 'cmdx_join_secret2' });

    await fs.writeFile(file, JSON.stringify({ version: 1, token: 'cmdx_submit_plain' }));
    const reopened = await SettingsStore.open(file, fixedNow, keyed(0x5a));
    expect(reopened.store.get().token).toBe('cmdx_submit_plain');
    expect(await fs.readFile(file, 'utf8')).not.toContain('cmdx_submit_plain');
  });

  it('a token sealed by another account is dropped with a notice, never a crash', async () => {
    const { store } = await SettingsStore.open(file, fixedNow, keyed(0x5a));
    await store.update({ token: 'cmdx_submit_secret1' });
    const other = await SettingsStore.open(file, fixedNow, keyed(0x33));
    expect(other.store.get().token).toBe('');
    expect(other.notice).toMatch(/could not be unsealed/);
  });
});

describe('the window', () => {
  it('gets the settings without their tokens', async () => {
    const { store } = await SettingsStore.open(file, fixedNow);
    await store.update({ token: 'cmdx_submit_x', joinToken: 'cmdx_join_y', idleMinutes: 7 });
    expect(withoutTokens(store.get())).toMatchObject({ token: '', joinToken: '', idleMinutes: 7 });
    expect(store.get().token).toBe('cmdx_submit_x');
  });
});

describe('redirections the window asks for', () => {
  it('are named for a native confirmation: coordinator, certificate, join token; other changes pass', async () => {
    const { store } = await SettingsStore.open(file, fixedNow);
    const current = store.get();
    expect(redirectionOf(current, { idleMinutes: 9, token: 'cmdx_submit_z' })).toBeNull();
    expect(redirectionOf(current, { coordinatorUrls: current.coordinatorUrls })).toBeNull();
    expect(redirectionOf(current, { coordinatorUrls: ['https://evil.example:8080'] })).toBe('This PC will connect to https://evil.example:8080.');
    const listed = await store.update({ coordinatorUrls: ['https://pool-a:8443', 'https://pool-b:8443'] });
    expect(redirectionOf(listed, { coordinatorUrls: ['https://pool-a:8443', 'https://pool-b:8443'] })).toBeNull();
    expect(redirectionOf(listed, { coordinatorUrls: ['https://pool-a:8443', 'https://evil.example:8443'] })).toBe(
      'This PC will connect to https://pool-a:8443, https://evil.example:8443.',
    );
    expect(redirectionOf(current, { joinToken: 'cmdx_join_q', coordinatorFingerprint: 'AB'.repeat(32) })).toMatch(/trust the certificate AB.*, and join the pool with a new join token/);
  });
});

describe('coordinator addresses as typed in Settings', () => {
  it('are read one per line or comma-separated, and each bad one is named', () => {
    expect(parseCoordinatorUrls('https://pool-a:8443\n  https://pool-b:8443/ ,https://pool-c:8443\n\n')).toEqual({
      urls: ['https://pool-a:8443', 'https://pool-b:8443/', 'https://pool-c:8443'],
    });
    expect(parseCoordinatorUrls('')).toEqual({ urls: [] });
    expect(parseCoordinatorUrls('https://pool-a:8443\npool-b:8443')).toEqual({
      error: '"pool-b:8443" must be an http:// or https:// address without credentials, like http://pool-pc:8787',
    });
    expect(parseCoordinatorUrls('https://me:secret@pool-a:8443')).toMatchObject({ error: expect.stringMatching(/^"https:\/\/me:secret@pool-a:8443" .*without credentials/) });
    expect(parseCoordinatorUrls('https://pool-a:8443, https://pool-a:8443/')).toEqual({ error: 'https://pool-a:8443/ is listed twice' });
    expect(parseCoordinatorUrls(Array.from({ length: 17 }, (_, i) => `http://node-${i}:8080`).join('\n'))).toEqual({ error: 'at most 16 coordinator addresses' });
  });
});
