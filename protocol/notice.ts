// The words of the "job finished" notification, the same in the desktop app (Electron's Notification) and in a
// browser (the Web Notification API).
import type { Job, JobGroup } from './api';

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

/** The notification's words for a matrix submission whose last job ended: how its jobs ended, counted. */
export function groupFinishedNotice(group: JobGroup): { title: string; body: string } {
  const heading = { succeeded: 'Matrix finished', failed: 'Matrix failed', cancelled: 'Matrix cancelled', active: 'Matrix running' }[group.state];
  const counted = (['succeeded', 'failed', 'timed_out', 'cancelled'] as const)
    .filter((state) => group.counts[state])
    .map((state) => `${group.counts[state]} ${state.replace('_', ' ')}`);
  return { title: `${heading}: ${group.name}`, body: `${group.total} jobs: ${counted.join(', ')}.` };
}
