// The words of the "job finished" notification, the same in the desktop app (Electron's Notification) and in a
// browser (the Web Notification API).
import type { Job } from './api';

/** The notification's words for a finished job. */
export function finishedNotice(job: Job): { title: string; body: string } {
  const name = job.name || job.id;
  switch (job.state) {
    case 'succeeded':
      return { title: `Job finished: ${name}`, body: `Succeeded${job.workerName ? ` on ${job.workerName}` : ''}.` };
    case 'failed':
      return {
        title: `Job failed: ${name}`,
        body: job.exitCode !== null ? `Exit code ${job.exitCode}.` : job.error ?? `Reason: ${job.reason ?? 'unknown'}.`,
      };
    case 'timed_out':
      return { title: `Job timed out: ${name}`, body: `It ran longer than ${job.spec.timeoutSec} s.` };
    default:
      return { title: `Job cancelled: ${name}`, body: 'It was cancelled.' };
  }
}
