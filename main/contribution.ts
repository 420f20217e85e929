// Drives the embedded agent from the idle policy: main/index.ts feeds one sample of the PC per second, this class
// asks the policy what to do and, when the answer changes, tells the agent (in order: a suspend is never overtaken by
// the resume that follows it). It also owns the user's switches: contribute on/off and "pause for an hour".
import type { ContributionAction, ContributionStatus, LocalAgentStatus, Settings } from '../protocol/ipc';
import {
  decideContribution,
  initialPolicyMemory,
  policySettingsFrom,
  type ContributionDecision,
  type PolicyInput,
  type PolicyMemory,
} from './idle-policy';

/** The agent's controls this class uses (main/agent's Agent). */
export interface ContributingAgent {
  suspend(): Promise<void>;
  resume(): Promise<void>;
  vacate(): Promise<void>;
  setPaused(paused: boolean): void;
  status(): LocalAgentStatus;
}

/** The settings the switches write to (main/settings.ts's SettingsStore). */
export interface ContributionSettingsStore {
  get(): Settings;
  update(patch: Partial<Settings>): Promise<Settings>;
}

export type PcSample = Omit<PolicyInput, 'now'>;

export interface ContributionLogger {
  info(message: string): void;
  error(message: string): void;
}

export class ContributionController {
  private memory: PolicyMemory;
  private decision: ContributionDecision;
  private lastSample: PcSample = { idleSec: 0, onBattery: false, screenLocked: false, othersCpuPercent: 0 };
  private agent: ContributingAgent | null = null;
  /** The action last handed to the agent; null = nothing told yet. */
  private applied: ContributionAction | null = null;
  private queue: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly settings: ContributionSettingsStore,
    private readonly logger: ContributionLogger,
    private readonly now: () => number = Date.now,
  ) {
    this.memory = initialPolicyMemory(now());
    this.decision = decideContribution({ ...this.lastSample, now: now() }, policySettingsFrom(settings.get()), this.memory);
  }

  /** One reading of the PC (every second in the app). */
  sample(sample: PcSample): void {
    this.lastSample = sample;
    this.evaluate();
  }

  /** The agent to drive from now on (null while there is none); it is told the current decision at once. */
  attachAgent(agent: ContributingAgent | null): void {
    this.agent = agent;
    this.applied = null;
    if (agent) this.apply(this.decision.action);
  }

  async setEnabled(enabled: boolean): Promise<void> {
    await this.settings.update({ contributeWhenIdle: enabled });
    this.evaluate();
  }

  /** Pauses contributing for `minutes`; 0 ends a pause. */
  async pause(minutes: number): Promise<void> {
    const pausedUntil = minutes > 0 ? new Date(this.now() + minutes * 60_000).toISOString() : null;
    await this.settings.update({ pausedUntil });
    this.evaluate();
  }

  /** Re-reads the settings (call after they changed elsewhere). A pause that is over is cleared from the file. */
  evaluate(): void {
    const settings = this.settings.get();
    const now = this.now();
    if (settings.pausedUntil !== null && Date.parse(settings.pausedUntil) <= now) {
      void this.settings.update({ pausedUntil: null }).catch((err) => this.logger.error(`could not clear the pause: ${err}`));
    }
    const previous = this.decision;
    this.decision = decideContribution({ ...this.lastSample, now }, policySettingsFrom(settings), this.memory);
    this.memory = this.decision.memory;
    if (this.decision.action !== previous.action) {
      this.logger.info(`contribution: ${previous.action} -> ${this.decision.action} (${this.decision.reason})`);
      this.apply(this.decision.action);
    }
    if (this.decision.action !== previous.action || this.decision.reason !== previous.reason) this.emit();
  }

  status(): ContributionStatus {
    const settings = this.settings.get();
    return {
      enabled: settings.contributeWhenIdle,
      alwaysContribute: settings.alwaysContribute,
      pausedUntil: settings.pausedUntil,
      action: this.decision.action,
      reason: this.decision.reason,
    };
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once every change handed to the agent so far has been carried out. */
  settled(): Promise<void> {
    return this.queue;
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }

  private apply(action: ContributionAction): void {
    const agent = this.agent;
    if (!agent) return;
    const before = this.applied;
    this.applied = action;
    // Not taking work is set at once, before the queue, so no claim slips in while a suspend or vacate is on its way.
    if (action !== 'run') agent.setPaused(true);
    this.queue = this.queue
      .then(async () => {
        if (action === 'run') {
          // A newer decision was made while this one waited in the queue: it already paused the agent.
          if (this.applied !== 'run' || this.agent !== agent) return;
          if (before === 'suspend') await agent.resume();
          agent.setPaused(false);
        } else if (action === 'suspend') {
          await agent.suspend();
        } else if (before === 'run' || before === 'suspend' || before === null) {
          // vacate or stop: hand back whatever runs (and an agent just attached may already hold work)
          await agent.vacate();
        }
      })
      .catch((err) => this.logger.error(`the agent could not ${action}: ${(err as Error).message}`));
  }
}
