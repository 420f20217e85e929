// Why a queued job waits, as data: the pool's workers in, one sentence a submitter can act on out.
import { describe, expect, it } from 'vitest';
import { type Worker } from '../../protocol/api';
import { DEFAULT_JOB_LIMITS } from '../../protocol/limits';
import { waitingReason, type WorkerAvailability } from './waiting';

const worker = (name: string, isolation: Worker['isolation'], state: Worker['state'] = 'idle', labels: string[] = []): WorkerAvailability => ({
  name,
  isolation,
  state,
  labels,
  slots: 1,
  busySlots: 0,
});
const needs = (spec: { labels?: string[]; network?: boolean; requireSandbox?: boolean }) => ({
  labels: [],
  network: false,
  requireSandbox: false,
  ...spec,
});
const limits = DEFAULT_JOB_LIMITS;

describe('waitingReason', () => {
  it('names the isolation a job asks for when the workers with its labels do not offer it', () => {
    const boxedNoNet = worker('a', { sandbox: 'bubblewrap', network: false, limits });
    const bareNet = worker('b', { sandbox: 'none', network: true, limits });
    expect(waitingReason(needs({ network: true }), [boxedNoNet])).toBe('no connected worker that could take it allows network: a');
    expect(waitingReason(needs({ network: true }), [boxedNoNet, bareNet])).toBeNull();
    expect(waitingReason(needs({ requireSandbox: true }), [bareNet, worker('old', null)])).toBe(
      'no connected worker that could take it runs jobs in a sandbox: b, old',
    );
    expect(waitingReason(needs({ requireSandbox: true }), [boxedNoNet])).toBeNull();
    // Labels first: a sandboxed worker without the label is not "one that could take it".
    expect(waitingReason(needs({ requireSandbox: true, labels: ['gpu'] }), [boxedNoNet])).toMatch(/^no connected worker has the label gpu;/);
    expect(waitingReason(needs({ network: true }), [worker('c', { sandbox: 'none', network: true, limits }, 'offline')])).toMatch(
      /^no worker is online/,
    );
  });
});
