// What this PC does for the pool, without Electron: hosts the coordinator when asked, runs the embedded agent
// against the pool in use, lets the idle policy drive it, follows the user's jobs for notifications, and sums it
// all up as one DesktopStatus. main/index.ts feeds it (settings, one PC sample a second) and shows its status;
// the tests run it under Node against a real coordinator and a real agent.
import { EventEmitter } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../coordinator/middleware/errors';
import type { Job, JobGroup } from '../protocol/api';
import { ApiClient } from '../protocol/client';
import type { DesktopStatus, LocalAgentStatus, PoolInfo, Settings } from '../protocol/ipc';
import { Agent, type AgentLogger, type AgentOptions } from './agent';
import { upstreamTo, type Upstream } from './app-protocol';
import { ContributionController, type PcSample } from './contribution';
import { JobWatcher } from './job-watcher';
import { PoolHost } from './pool-host';
import type { SettingsStore } from './settings';

export interface RuntimeLoggers {
  main: Logger;
  agent: AgentLogger;
  coordinator: Logger;
}

export interface RuntimeOptions {
  settings: SettingsStore;
  /** userData: the hosted pool lives in pool/, the agent's identity and workspaces in agent/. */
  dataDir: string;
  /** Where a hosted pool listens: 0.0.0.0 in the app (the LAN), 127.0.0.1 in tests. */
  hostAddress: string;
  /** The built renderer, served by a hosted pool to colleagues' browsers. */
  staticDir: string | null;
  /** The app's version, which a hosted pool announces on the LAN. */
  version?: string;
  loggers: RuntimeLoggers;
  notify(job: Job): void;
  /** A matrix submission of this user's ended (all its jobs). */
  notifyGroup?(group: JobGroup): void;
  /** Told once in the status (e.g. the settings file was reset). */
  notice?: string | null;
  now?: () => number;
  /** Extra agent knobs (tests make it quicker). */
  agentOptions?: Partial<AgentOptions>;
}

/** The settings whose change means a new connection (pool, agent identity). */
const CONNECTION_KEYS = [
  'coordinatorUrls',
  'coordinatorFingerprint',
  'token',
  'joinToken',
  'hostPool',
  'hostPort',
  'slots',
  'labels',
  'workerName',
  'allowNetwork',
  'trustedSubmitters',
] as const;
const connectionOf = (settings: Settings) => JSON.stringify(CONNECTION_KEYS.map((key) => settings[key]));

const NOT_CONFIGURED =
  'No pool is set up yet: enter the coordinator address and tokens in Settings, or host the pool on this PC.';

export class DesktopRuntime extends EventEmitter<{ status: [DesktopStatus] }> {
  readonly contribution: ContributionController;
  private host: PoolHost | null = null;
  private upstreamNow: Upstream | null = null;
  private pool: PoolInfo | null = null;
  private agent: Agent | null = null;
  private watcher: JobWatcher | null = null;
  private problem: string | null = null;
  private connectedAs = '';
  private reconnecting: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: RuntimeOptions) {
    super();
    const { settings, loggers } = options;
    this.contribution = new ContributionController(
      settings,
      { info: (m) => loggers.main.info(m), error: (m) => loggers.main.error(m) },
      options.now,
    );
    this.contribution.onChange(() => this.publish());
    settings.onChange((next) => {
      this.contribution.evaluate();
      if (connectionOf(next) !== this.connectedAs) void this.reconnect();
      this.publish();
    });
  }

  /** Connects as the settings say (hosting the pool first if asked). Resolves once the agent is on its way. */
  start(): Promise<void> {
    return this.reconnect();
  }

  /** Feeds one reading of the PC to the idle policy. */
  sample(sample: PcSample): void {
    this.contribution.sample(sample);
  }

  /** Where app://cmdx/api goes: the hosted pool, or the configured coordinator. */
  upstream(): Upstream | null {
    return this.upstreamNow;
  }

  /** Jobs the agent is running right now (not frozen): the CPU estimate's input. */
  runningJobs(): number {
    return this.agent?.status().jobs.filter((job) => job.state === 'running').length ?? 0;
  }

  watchJob(jobId: string): void {
    if (!this.watcher) throw new Error('not connected to a pool yet');
    this.watcher.watch(jobId);
  }

  watchGroup(groupId: string): void {
    if (!this.watcher) throw new Error('not connected to a pool yet');
    this.watcher.watchGroup(groupId);
  }

  status(): DesktopStatus {
    const settings = this.options.settings.get();
    return {
      contribution: this.contribution.status(),
      agent: this.agentStatus(settings),
      pool: this.pool,
      connection: {
        coordinatorUrls: [...(this.upstreamNow?.servers ?? [])],
        hosting: this.pool !== null,
        problem: this.problem,
      },
      notice: this.options.notice ?? null,
    };
  }

  /** Hands running work back, leaves the pool and stops hosting it. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.reconnecting;
    await this.disconnect();
  }

  private agentStatus(settings: Settings): LocalAgentStatus {
    if (this.agent) return this.agent.status();
    return { state: 'stopped', workerId: null, name: settings.workerName || os.hostname(), connected: false, jobs: [], sandbox: null, problem: null };
  }

  private publish(): void {
    this.emit('status', this.status());
  }

  /** Serialised: a second change of settings waits for the first reconnect to finish. */
  private reconnect(): Promise<void> {
    this.reconnecting = this.reconnecting.then(() => this.connect()).catch((err: unknown) => {
      this.problem = (err as Error).message;
      this.options.loggers.main.error(`connecting failed: ${(err as Error).message}`);
      this.publish();
    });
    return this.reconnecting;
  }

  private async disconnect(): Promise<void> {
    this.watcher?.stopAll();
    this.watcher = null;
    const agent = this.agent;
    this.agent = null;
    this.contribution.attachAgent(null);
    if (agent) {
      agent.removeAllListeners('status');
      await agent.stop({ graceMs: 0 });
    }
    const host = this.host;
    this.host = null;
    this.pool = null;
    await host?.stop();
    this.upstreamNow = null;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const settings = this.options.settings.get();
    this.connectedAs = connectionOf(settings);
    await this.disconnect();
    this.problem = null;

    let servers: string[];
    let token: string;
    let fingerprint: string | null;
    let joinToken: string;
    if (settings.hostPool) {
      this.host = new PoolHost({
        dataDir: path.join(this.options.dataDir, 'pool'),
        host: this.options.hostAddress,
        port: settings.hostPort,
        staticDir: this.options.staticDir,
        ...(this.options.version ? { version: this.options.version } : {}),
        logger: this.options.loggers.coordinator,
      });
      const hosted = await this.host.start();
      this.pool = hosted.info;
      [servers, token, fingerprint, joinToken] = [[hosted.localUrl], hosted.adminToken, hosted.fingerprint, hosted.info.joinToken];
      this.options.loggers.main.info(`hosting the pool at ${hosted.info.urls.join(', ')}`);
    } else if (settings.coordinatorUrls.length) {
      servers = settings.coordinatorUrls;
      [token, fingerprint, joinToken] = [settings.token, settings.coordinatorFingerprint || null, settings.joinToken];
    } else {
      this.problem = NOT_CONFIGURED;
      this.publish();
      return;
    }

    // One transport for everything this PC sends to the pool (its agent, the job watcher, the window's API
    // calls): the pin holds for every node, and a node found down is skipped by all of them.
    try {
      this.upstreamNow = upstreamTo(servers, token, fingerprint);
    } catch (err) {
      this.problem = (err as Error).message;
      this.publish();
      return;
    }
    const transport = this.upstreamNow.fetch;
    const client = new ApiClient({ baseUrl: this.upstreamNow.baseUrl, token, fetch: transport });
    this.watcher = new JobWatcher(client, {
      notify: (job) => this.options.notify(job),
      notifyGroup: (group) => this.options.notifyGroup?.(group),
      logger: this.options.loggers.main,
    });
    void this.watcher.watchMine().catch((err: Error) => this.options.loggers.main.warn(`could not list my jobs: ${err.message}`));

    if (!joinToken) {
      this.problem = 'Enter the pool’s join token in Settings so this PC can contribute.';
      this.publish();
      return;
    }
    const agent = new Agent({
      server: servers.join(','),
      joinToken,
      fetch: transport,
      ...(settings.workerName ? { name: settings.workerName } : {}),
      labels: settings.labels,
      slots: settings.slots,
      allowNetwork: settings.allowNetwork,
      trust: settings.trustedSubmitters,
      workDir: path.join(this.options.dataDir, 'agent'),
      logger: this.options.loggers.agent,
      ...this.options.agentOptions,
    });
    agent.setPaused(true); // until the policy says run
    agent.on('status', () => this.publish());
    this.agent = agent;
    this.contribution.attachAgent(agent);
    // start() waits while the coordinator is unreachable; the status shows "disconnected" meanwhile.
    void agent.start().catch((err: Error) => {
      if (this.agent !== agent) return;
      this.problem = err.message;
      this.options.loggers.main.error(`the agent could not join: ${err.message}`);
      this.publish();
    });
    this.publish();
  }
}
