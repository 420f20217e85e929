// Case 3 measures the coordinator with a long history behind it: finished jobs written straight into the
// store (the same SqliteStore the coordinator opens), in big transactions, before the coordinator starts.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { ResolvedJobSpec } from '../../protocol/api';
import { newJobId } from '../../coordinator/services/jobs';
import { SqliteStore } from '../../coordinator/store/sqlite';

const BATCH = 5000;

/** Writes `count` succeeded jobs, each with its lease and its four state events (no output: that is in files). */
export async function seedHistory(dataDir: string, count: number): Promise<void> {
  const store = new SqliteStore({ file: join(dataDir, 'coordinator.sqlite') });
  const workerId = 'wkr_history';
  const start = Date.now() - count * 1000;
  try {
    for (let from = 0; from < count; from += BATCH) {
      await store.transaction(async (tx) => {
        for (let i = from; i < Math.min(count, from + BATCH); i++) {
          const at = start + i * 1000;
          const spec: ResolvedJobSpec = {
            commands: [`echo history ${i}`],
            name: `history ${i}`,
            shell: null,
            env: {},
            timeoutSec: 3600,
            labels: [],
            priority: 0,
            maxAttempts: 3,
            retries: 0,
            outputs: [],
            continueOnError: false,
            network: false,
            requireSandbox: false,
            limits: {},
          };
          const id = newJobId(at);
          const leaseId = `lse_${randomUUID().replace(/-/g, '')}`;
          await tx.insertJob({
            id, name: spec.name, state: 'succeeded', reason: null, error: null, exitCode: 0, spec, bundleSha: null,
            bundleSize: null, submittedBy: 'history', createdAt: at, queuedAt: at, startedAt: at + 5, finishedAt: at + 20,
            attempt: 1, failures: 0, workerId, leaseId: null, cancelRequested: false, artifactsSha: null,
            artifactsSize: null, timeoutAt: null, outputHeadBytes: 0, outputTailBytes: 0, outputDroppedBytes: 0,
            lastEventId: 4, groupId: null,
          });
          await tx.insertLease({
            id: leaseId, jobId: id, workerId, attempt: 1, status: 'completed', leasedAt: at + 2, expiresAt: at + 30_002,
            endedAt: at + 20, nextSeq: 1, stopReason: null,
          });
          const state = (n: number, name: string) =>
            tx.insertEvent({
              jobId: id, id: n, type: 'state', attempt: 1, outputOffset: 0,
              data: { state: name, attempt: n === 1 ? 0 : 1, reason: null, exitCode: n === 4 ? 0 : null, workerId, workerName: 'history', error: null },
            });
          await state(1, 'queued');
          await state(2, 'leased');
          await state(3, 'running');
          await state(4, 'succeeded');
        }
      });
    }
  } finally {
    await store.close();
  }
}
