// What an operator reads: one logfmt line per job state change, lease expiry (with the reason), registration,
// timeout, start and stop, in the agent's shape.
import { describe, expect, it } from 'vitest';
import { createConsoleLogger } from '../../common/logger';
import { ApiClient } from '../../protocol/client';
import { manualClock } from '../../test/clock';
import { registerTestWorker, startTestCoordinator } from '../../test/pool';

describe('the coordinator log', () => {
  it('has a line for each thing an operator needs to know', async () => {
    const lines: string[] = [];
    const logger = createConsoleLogger({ write: (line) => lines.push(line.trimEnd()), colour: false });
    const clock = manualClock();
    const pool = await startTestCoordinator({ clock: clock.now, sweepIntervalMs: 0, leaseTtlSec: 30, logger });
    const submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'w1' });

    const lost = await submitter.submitJob({ commands: ['sleep 1'], maxAttempts: 1 });
    await worker.client.claim(worker.id, 0);
    clock.advance(31_000);
    await pool.coordinator.sweep();
    const slow = await submitter.submitJob({ commands: ['sleep 100'], timeoutSec: 5 });
    await worker.client.claim(worker.id, 0);
    clock.advance(6_000);
    await worker.client.heartbeat(worker.id);
    await pool.coordinator.sweep();
    await pool.stop();

    const text = lines.join('\n');
    expect(text).toMatch(/^\[\S+\] \[INFO\] coordinator started url=http:\/\/127\.0\.0\.1:\d+ /m);
    expect(text).toMatch(new RegExp(`\\[INFO\\] worker registered worker=${worker.id} name=w1 `));
    expect(text).toMatch(new RegExp(`\\[INFO\\] job queued job=${lost.id} attempt=0`));
    expect(text).toMatch(new RegExp(`\\[INFO\\] job leased job=${lost.id} attempt=1 worker=w1`));
    expect(text).toMatch(new RegExp(`\\[WARN\\] lease expired job=${lost.id} .*reason="no word from the worker for 31 s"`));
    expect(text).toMatch(new RegExp(`\\[INFO\\] job failed job=${lost.id} attempt=1 worker=w1 reason=lost`));
    expect(text).toMatch(new RegExp(`\\[INFO\\] job timeout reached: the worker is told to stop it job=${slow.id} `));
    expect(text).toMatch(/\[INFO\] coordinator stopped /);
    // One line per event: no multi-line objects.
    for (const line of lines) expect(line).toMatch(/^\[\S+\] \[(INFO|WARN|ERROR)\] /);
  });
});
