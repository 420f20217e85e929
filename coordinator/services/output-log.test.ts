// The attempt log files: bytes back by offset with their streams, the cap's cut as a gap in the index of
// segments, and what a crash between writing and committing leaves (cut back at the next write, never read).
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir } from '../../test/pool';
import { OutputLog, outputEnd, outputFolder, type OutputCounters, type OutputPiece, type OutputRead } from './output-log';

const none: OutputCounters = { outputHeadBytes: 0, outputTailBytes: 0, outputDroppedBytes: 0 };
const out = (data: string) => ({ stream: 'stdout' as const, data: Buffer.from(data) });
const err = (data: string) => ({ stream: 'stderr' as const, data: Buffer.from(data) });
/** Reads as `[offset, stream or 'gap', text or gap length]`, easy to compare. */
const shown = (reads: OutputRead[]) => reads.map((r) => ('gap' in r ? [r.offset, 'gap', r.gap] : [r.offset, r.stream, r.data.toString()]));

describe('OutputLog', () => {
  let root: string;
  const logs: OutputLog[] = [];
  const open = (maxOutputBytes = 1000, memoryBytes?: number) => {
    const log = new OutputLog(outputFolder(root), { maxOutputBytes, fsync: true, ...(memoryBytes !== undefined ? { memoryBytes } : {}) });
    logs.push(log);
    return log;
  };
  /** Appends and commits, as the scheduler does: the counters returned are what the store then holds. */
  const commit = async (log: OutputLog, committed: OutputCounters, ...pieces: OutputPiece[]) => {
    const written = await log.append('job_a', 1, committed, pieces);
    await written.committed();
    return written.counters;
  };

  beforeEach(async () => {
    root = await makeTempDir('cmdx-output-');
  });
  afterEach(async () => {
    for (const log of logs.splice(0)) await log.close();
    await rm(root, { recursive: true, force: true });
  });

  it('reads back any range by offset, one stream per read, from memory and from the files alike', async () => {
    const log = open();
    let counters = await commit(log, none, out('hello '), out('world\n'), err('oops\n'));
    counters = await commit(log, counters, out('bye\n'));
    expect(outputEnd(counters)).toBe(21);
    const whole = [[0, 'stdout', 'hello world\n'], [12, 'stderr', 'oops\n'], [17, 'stdout', 'bye\n']];
    expect(shown(await log.read('job_a', 1, 0, 21, 1000))).toEqual(whole);
    expect(shown(await log.read('job_a', 1, 14, 19, 1000))).toEqual([[14, 'stderr', 'ps\n'], [17, 'stdout', 'by']]);
    expect(shown(await log.read('job_a', 1, 3, 21, 4))).toEqual([[3, 'stdout', 'lo w']]);
    // A fresh instance (a restart) has nothing in memory: the same answers from the files.
    const reopened = open();
    expect(shown(await reopened.read('job_a', 1, 0, 21, 1000))).toEqual(whole);
    expect(shown(await reopened.read('job_a', 1, 14, 19, 1000))).toEqual([[14, 'stderr', 'ps\n'], [17, 'stdout', 'by']]);
  });

  it('keeps the beginning and the rolling end past the cap; the cut is a gap of the bytes dropped', async () => {
    const log = open(100);
    let counters = none;
    let written = '';
    for (let i = 0; i < 100; i++) {
      const line = `${String(i).padStart(3, '0')}\n`;
      written += line;
      counters = await commit(log, counters, out(line));
    }
    expect(outputEnd(counters)).toBe(400);
    expect(counters.outputHeadBytes).toBe(50);
    // The end keeps at least its half of the cap and less than a segment (a quarter of it) more.
    expect(counters.outputTailBytes).toBeGreaterThanOrEqual(50);
    expect(counters.outputTailBytes).toBeLessThan(50 + 13);
    const cutEnd = 400 - counters.outputTailBytes;
    expect(shown(await open(100).read('job_a', 1, 0, 400, 1000))).toEqual([
      [0, 'stdout', written.slice(0, 50)],
      [50, 'gap', cutEnd - 50],
      [cutEnd, 'stdout', written.slice(cutEnd)],
    ]);
    expect(counters.outputDroppedBytes).toBe(cutEnd - 50);
    // A reader inside the cut resumes after it.
    expect(shown(await open(100).read('job_a', 1, 60, 400, 1000))[0]).toEqual([60, 'gap', cutEnd - 60]);
    // Only the beginning, the kept segments of the end and the index are on disk.
    const files = await readdir(join(root, 'job_a', '1'));
    expect(files.filter((f) => f.endsWith('.out')).length).toBeLessThanOrEqual(1 + 5);
  });

  it('cuts back what was written but never committed (kill -9 between the write and the commit)', async () => {
    const log = open();
    const committed = await commit(log, none, out('kept\n'));
    // Written, then the coordinator dies before its store commits the counters: the worker never had an ack.
    await log.append('job_a', 1, committed, [err('lost '), out('and more\n')]);
    await log.close();
    const restarted = open();
    expect(shown(await restarted.read('job_a', 1, 0, outputEnd(committed), 1000))).toEqual([[0, 'stdout', 'kept\n']]);
    // The worker resends from its last acknowledged chunk: the bytes land once, after what was committed.
    const counters = await commit(restarted, committed, out('again\n'));
    expect(outputEnd(counters)).toBe(11);
    expect(shown(await open().read('job_a', 1, 0, 11, 1000))).toEqual([[0, 'stdout', 'kept\nagain\n']]);
  });

  it('a failed commit in a running coordinator is cut back the same way', async () => {
    const log = open();
    const committed = await commit(log, none, out('one\n'));
    await log.append('job_a', 1, committed, [err('refused\n')]);
    const counters = await commit(log, committed, out('two\n'));
    expect(shown(await log.read('job_a', 1, 0, outputEnd(counters), 1000))).toEqual([[0, 'stdout', 'one\ntwo\n']]);
  });

  it('deletes a dropped segment only after the commit, and a restart deletes one a crash left behind', async () => {
    const log = open(100);
    let counters = none;
    for (let i = 0; i < 20; i++) counters = await commit(log, counters, out('0123456789'));
    const segments = async () => (await readdir(join(root, 'job_a', '1'))).filter((f) => f.endsWith('.out')).sort();
    const before = await segments();
    // This write drops the end's oldest segment, but the store never commits it.
    const uncommitted = await log.append('job_a', 1, counters, [out('0123456789'.repeat(3))]);
    expect(uncommitted.counters.outputDroppedBytes).toBeGreaterThan(counters.outputDroppedBytes);
    expect(await segments()).toEqual(expect.arrayContaining(before));
    // Committed, then killed before the deletion: the restart's first write deletes it.
    await log.close();
    await open(100).append('job_a', 1, uncommitted.counters, [out('x')]);
    const oldest = Math.min(...before.filter((f) => f !== '0.out').map((f) => Number(f.replace('.out', ''))));
    expect(await segments()).not.toContain(`${oldest}.out`);
  });

  it('removes every attempt of a job', async () => {
    const log = open();
    await commit(log, none, out('x'));
    await log.append('job_a', 2, none, [out('y')]);
    await log.remove('job_a');
    expect(existsSync(join(root, 'job_a'))).toBe(false);
  });
});
