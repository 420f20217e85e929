import { describe, expect, it } from 'vitest';
import { OFFLINE_WORKERS } from '../../../protocol/api';
import { formatAgo, formatBytes, formatDuration, formatShares, isolationSummary, jobStateLabel, workerPresence } from './format';

describe('format', () => {
  it('offline workers stay, then fade, then leave the list; online ones always show', () => {
    const now = Date.parse('2026-11-29T12:00:00Z');
    const seen = (agoMs: number) => new Date(now - agoMs).toISOString();
    expect(workerPresence({ state: 'offline', lastSeenAt: seen(60_000) }, now)).toBe('shown');
    expect(workerPresence({ state: 'offline', lastSeenAt: seen(OFFLINE_WORKERS.fadeAfterMs) }, now)).toBe('faded');
    expect(workerPresence({ state: 'offline', lastSeenAt: seen(OFFLINE_WORKERS.hideAfterMs) }, now)).toBe('hidden');
    expect(workerPresence({ state: 'idle', lastSeenAt: seen(OFFLINE_WORKERS.hideAfterMs * 2) }, now)).toBe('shown');
  });

  it("shows each person's pool share, rounded, with what they run now", () => {
    expect(
      formatShares([
        { submitter: 'alice', slotSeconds: 1250, running: 2, share: 0.625 },
        { submitter: 'bob', slotSeconds: 750, running: 0, share: 0.375 },
      ]),
    ).toBe('alice 63% (2 running) · bob 38%');
    expect(formatShares([])).toBe('');
  });

  it('shows sizes in binary units with sensible precision', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(250 * 1024)).toBe('250 KiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
  });

  it('shows durations from milliseconds to hours', () => {
    expect(formatDuration(12)).toBe('12 ms');
    expect(formatDuration(1234)).toBe('1.2 s');
    expect(formatDuration(42_000)).toBe('42 s');
    expect(formatDuration(125_000)).toBe('2 min 5 s');
    expect(formatDuration(2 * 3600_000 + 60_000)).toBe('2 h 1 min');
  });

  it('shows ages against the time the data was read', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(formatAgo('2026-01-01T11:59:58Z', now)).toBe('just now');
    expect(formatAgo('2026-01-01T11:59:30Z', now)).toBe('30 s ago');
    expect(formatAgo('2026-01-01T11:57:00Z', now)).toBe('3 min 0 s ago');
    // A clock slightly behind the server's never shows a negative age.
    expect(formatAgo('2026-01-01T12:00:03Z', now)).toBe('just now');
  });

  it("says what a suspended job means to the person watching it", () => {
    expect(jobStateLabel('suspended')).toBe("paused on the owner's PC");
    expect(jobStateLabel('timed_out')).toBe('timed out');
  });

  it('says how a worker contains jobs; one that does not say is not sandboxed', () => {
    const limits = { memoryMiB: 512, processes: 64, openFiles: 1024, fileSizeMiB: 2048, diskMiB: 10240 };
    expect(isolationSummary({ sandbox: 'bubblewrap', network: false, limits })).toEqual({
      label: 'sandboxed (bubblewrap), no network',
      sandboxed: true,
      limits: 'per job: memory 512 MiB, 64 processes, disk 10 GiB, files up to 2.0 GiB, 1024 open files',
    });
    expect(isolationSummary({ sandbox: 'bubblewrap', network: true, limits }).label).toBe('sandboxed (bubblewrap), network if asked');
    expect(isolationSummary({ sandbox: 'none', network: false, limits })).toMatchObject({ sandboxed: false, label: 'not sandboxed (trusted submitters only)' });
    expect(isolationSummary(null)).toEqual({ label: 'not sandboxed (trusted submitters only)', sandboxed: false, limits: '' });
  });
});
