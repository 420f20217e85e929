// Case 7's other side: one BullMQ worker process that runs each job's command with `sh -c`, as our agent does.
// Prints `READY` once connected to Redis; closes (finishing its jobs) on SIGTERM.
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { runShell } from '../lib/baselines';

const { port, queue, concurrency } = JSON.parse(process.argv[2]!) as { port: number; queue: string; concurrency: number };
const worker = new Worker<{ command: string }>(queue, async (job) => void (await runShell(job.data.command)), {
  // A client made here: BullMQ loads ioredis itself only where `require` exists, and workers block on Redis.
  connection: new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: null }),
  concurrency,
});
await worker.waitUntilReady();
process.stdout.write('READY\n');
process.once('SIGTERM', () => void worker.close().then(() => process.exit(0)));
