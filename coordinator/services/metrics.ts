// Prometheus metrics (prom-client), one registry per coordinator so several can live in one process (tests).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { JOB_STATES, WORKER_STATES } from '../../protocol/api';
import type { SchedulerMetrics } from './scheduler';
import type { Scheduler } from './scheduler';
import type { Store } from '../store/types';

export class Metrics implements SchedulerMetrics {
  readonly registry = new Registry();
  private readonly claimLatency: Histogram;
  private readonly leaseExpiries: Counter;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;

  constructor(store: Store, scheduler: () => Scheduler, dataBytes: () => Promise<number>) {
    collectDefaultMetrics({ register: this.registry, prefix: 'cmdx_process_' });
    this.claimLatency = new Histogram({
      name: 'cmdx_claim_latency_seconds',
      help: 'Time from a job becoming claimable (submitted or requeued) to a worker leasing it',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      registers: [this.registry],
    });
    this.leaseExpiries = new Counter({
      name: 'cmdx_lease_expiries_total',
      help: 'Leases that expired because their worker stopped heartbeating',
      registers: [this.registry],
    });
    this.httpDuration = new Histogram({
      name: 'cmdx_http_request_duration_seconds',
      help: 'HTTP request durations by route (long polls and event streams included)',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [this.registry],
    });
    new Gauge({
      name: 'cmdx_jobs',
      help: 'Jobs by state',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const counts = await store.countJobsByState();
        for (const state of JOB_STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
    new Gauge({
      name: 'cmdx_queue_depth',
      help: 'Jobs waiting for a worker',
      registers: [this.registry],
      async collect() {
        this.set((await store.countJobsByState()).queued ?? 0);
      },
    });
    new Gauge({
      name: 'cmdx_workers',
      help: 'Workers by state',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const workers = await scheduler().availability();
        for (const state of WORKER_STATES) this.set({ state }, workers.filter((w) => w.state === state).length);
      },
    });
    new Gauge({
      name: 'cmdx_data_bytes',
      help: 'Bytes the data dir holds (store and blobs); kept in check by --retention',
      registers: [this.registry],
      async collect() {
        this.set(await dataBytes());
      },
    });
    new Gauge({
      name: 'cmdx_waiting_claims',
      help: 'Workers waiting in a long-poll claim',
      registers: [this.registry],
      collect() {
        this.set(scheduler().waitingClaims);
      },
    });
  }

  observeClaimLatency(seconds: number): void {
    this.claimLatency.observe(seconds);
  }

  countLeaseExpiry(): void {
    this.leaseExpiries.inc();
  }
}
