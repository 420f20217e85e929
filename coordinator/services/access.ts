// Who may do what to a job. A job belongs to the person whose token submitted it (the token's name). Owners
// and admins may cancel, re-run, read its env and download its artifacts; other submitters see it (state and
// log) only when the pool's visibility is `team`. A job someone may not see answers 404, as if it did not exist.
import { mayActOn, type Job, type JobGroup, type Worker, type WorkerDetail } from '../../protocol/api';
import { AuthorizationError, NotFoundError } from '../errors';
import type { JobRecord } from '../store/types';
import type { JobService } from './jobs';
import type { Principal } from './tokens';

export const JOB_VISIBILITIES = ['owner', 'team'] as const;
export type JobVisibility = (typeof JOB_VISIBILITIES)[number];

/** What an env value reads as to someone who may see the job but not its env. */
/** What a job's name reads as on a worker's page to someone who may not see the job. */
const SOMEONE_ELSES_JOB = "someone else's job";

export const HIDDEN_VALUE = '(hidden: only the owner and admins read env)';

export class JobAccess {
  constructor(
    private readonly jobs: JobService,
    private readonly visibility: JobVisibility,
  ) {}

  owns(principal: Principal, job: { submittedBy: string }): boolean {
    return mayActOn(principal, job);
  }

  private sees(principal: Principal, job: { submittedBy: string }): boolean {
    return this.visibility === 'team' || this.owns(principal, job);
  }

  /** The submitter a listing is narrowed to: undefined for everyone's jobs. */
  listedSubmitter(principal: Principal, mine: boolean): string | undefined {
    if (mine) return principal.name;
    return principal.role === 'admin' || this.visibility === 'team' ? undefined : principal.name;
  }

  async visible(principal: Principal, id: string): Promise<JobRecord> {
    const job = await this.jobs.require(id);
    if (!this.sees(principal, job)) throw new NotFoundError(`no job with id "${id}"`);
    return job;
  }

  /** The job, if this principal owns it (or is an admin); `what` names the action for the refusal. */
  async owned(principal: Principal, id: string, what: string): Promise<JobRecord> {
    const job = await this.visible(principal, id);
    if (!this.owns(principal, job)) {
      throw new AuthorizationError(`job ${id} belongs to ${job.submittedBy}; only they or an admin may ${what}`);
    }
    return job;
  }

  /** A matrix group, as its jobs: hidden (404) and owned like each of them (they share their submitter). */
  async visibleGroup(principal: Principal, id: string): Promise<JobGroup> {
    const group = await this.jobs.group(id);
    if (!this.sees(principal, group)) throw new NotFoundError(`no job group with id "${id}"`);
    return { ...group, jobs: group.jobs.map((job) => this.present(principal, job)) };
  }

  async ownedGroup(principal: Principal, id: string, what: string): Promise<JobGroup> {
    const group = await this.visibleGroup(principal, id);
    if (!this.owns(principal, group)) {
      throw new AuthorizationError(`job group ${id} belongs to ${group.submittedBy}; only they or an admin may ${what}`);
    }
    return group;
  }

  /** Workers as this principal may read them: the names of jobs it may not see are not shown. */
  async presentWorkers(principal: Principal, workers: Worker[]): Promise<Worker[]> {
    if (principal.role === 'admin' || this.visibility === 'team') return workers;
    return Promise.all(
      workers.map(async (worker) => ({
        ...worker,
        currentJobs: await Promise.all(
          worker.currentJobs.map(async (job) => {
            const record = await this.jobs.require(job.id).catch(() => null);
            return record && this.owns(principal, record) ? job : { ...job, name: SOMEONE_ELSES_JOB };
          }),
        ),
      })),
    );
  }

  /** A worker's page as this principal may read it: others' jobs, where it may not see them, are not named. */
  async presentWorkerDetail(principal: Principal, detail: WorkerDetail): Promise<WorkerDetail> {
    const [worker] = await this.presentWorkers(principal, [detail.worker]);
    const hidden = principal.role !== 'admin' && this.visibility !== 'team';
    return {
      worker: worker!,
      recentJobs: detail.recentJobs.map((job) => (hidden && !this.owns(principal, job) ? { ...job, name: SOMEONE_ELSES_JOB } : job)),
    };
  }

  /** The job as this principal may read it: env values only for its owner and admins. */
  present(principal: Principal, job: Job): Job {
    if (this.owns(principal, job)) return job;
    const env = Object.fromEntries(Object.keys(job.spec.env).map((name) => [name, HIDDEN_VALUE]));
    return { ...job, spec: { ...job.spec, env } };
  }
}
