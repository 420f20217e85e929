// kill -9 of the coordinator while a job streams its output to a real agent and an SSE follower, then a restart
// on the same data dir: the attempt goes on, and its log and its stream hold every byte the job printed once, in
// order. The agent resends what was not acknowledged (by sequence number); what was acknowledged was on disk.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../protocol/client';
import { ProcessPool } from './process-pool';

const BLOCKS = 150;
const LINES = 1000;
// Numbered lines in blocks with pauses between them, so the coordinator dies mid-stream.
const PRINTER = `i=0; while [ $i -lt ${BLOCKS} ]; do seq $((i*${LINES}+1)) $((i*${LINES}+${LINES})); i=$((i+1)); sleep 0.02; done`;

describe('the coordinator killed with kill -9 mid-stream', () => {
  let pool: ProcessPool;
  beforeAll(async () => {
    // Leases long enough to outlive the restart: the same attempt streams on across it.
    pool = await ProcessPool.start(['--lease-ttl', '30', '--heartbeat-interval', '1']);
    await pool.startAgent('printer', 1);
  });
  afterAll(() => pool.cleanUp());

  it('keeps every acknowledged byte once: the log and a follower resuming by offset get the whole output', { timeout: 120_000 }, async () => {
    const expected = execFileSync('seq', ['1', String(BLOCKS * LINES)], { encoding: 'utf8' });
    const job = await pool.client.submitJob({ commands: [PRINTER], name: 'printer' });

    let followed = '';
    let reconnects = 0;
    const follower = (async () => {
      let afterId = 0;
      for (;;) {
        try {
          for await (const event of pool.client.events(job.id, { afterId })) {
            afterId = event.id;
            if (event.type === 'output') followed += event.data.text;
            if (event.type === 'truncated') throw new Error(`output dropped: ${event.data.droppedBytes} bytes`);
          }
          return;
        } catch (err) {
          if (!(err instanceof ApiError) || err.status !== 0) throw err;
          reconnects++;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    })();

    await pool.waitForJob(job.id, (j) => j.outputBytes > 100_000, 'to have streamed 100 kB');
    await pool.killCoordinator();
    await pool.startCoordinator();
    const done = await pool.waitForState(job.id, ['succeeded', 'failed'], 60_000);
    await follower;

    expect(done.state).toBe('succeeded');
    expect(done.attempts).toHaveLength(1);
    expect(done.outputBytes).toBe(expected.length);
    expect(reconnects).toBeGreaterThan(0);
    const log = await pool.client.getLog(job.id);
    // Compared by length and first difference, not as two 1 MB strings in a diff.
    expect(log.length).toBe(expected.length);
    expect(firstDifference(log, expected)).toBe(-1);
    expect(followed.length).toBe(expected.length);
    expect(firstDifference(followed, expected)).toBe(-1);
  });
});

function firstDifference(a: string, b: string): number {
  if (a === b) return -1;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i;
}
