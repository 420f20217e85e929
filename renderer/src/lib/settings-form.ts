// The desktop settings form: text fields as typed, turned into a patch the main process accepts.
import { parseCoordinatorUrls, settingsPatchSchema, type Settings, type SettingsPatch } from '../../../protocol/ipc';

export type Draft = Record<keyof SettingsPatch, string | boolean>;
export type DraftErrors = Partial<Record<keyof SettingsPatch, string>>;

const NUMBER_FIELDS = ['hostPort', 'idleMinutes', 'maxOthersCpuPercent', 'slots'] as const;

export function draftOf(settings: Settings): Draft {
  return {
    coordinatorUrls: settings.coordinatorUrls.join('\n'),
    coordinatorFingerprint: settings.coordinatorFingerprint,
    token: settings.token,
    joinToken: settings.joinToken,
    hostPool: settings.hostPool,
    hostPort: String(settings.hostPort),
    contributeWhenIdle: settings.contributeWhenIdle,
    idleMinutes: String(settings.idleMinutes),
    onlyOnAC: settings.onlyOnAC,
    maxOthersCpuPercent: String(settings.maxOthersCpuPercent),
    alwaysContribute: settings.alwaysContribute,
    contributeHours: settings.contributeHours,
    slots: String(settings.slots),
    labels: settings.labels.join(', '),
    workerName: settings.workerName,
    allowNetwork: settings.allowNetwork,
    trustedSubmitters: settings.trustedSubmitters.join(', '),
  };
}

/** The draft as a patch, checked by the same schema the main process applies. */
export function patchOf(draft: Draft): { patch: SettingsPatch } | { errors: DraftErrors } {
  const candidate: Record<string, unknown> = { ...draft };
  for (const field of NUMBER_FIELDS) {
    const text = String(draft[field]).trim();
    candidate[field] = /^\d+$/.test(text) ? Number(text) : text;
  }
  for (const field of ['labels', 'trustedSubmitters'] as const) {
    candidate[field] = String(draft[field])
      .split(/[\s,]+/)
      .filter(Boolean);
  }
  // Said per address ("pool-b:8080" must be ...), not by its place in the list.
  const coordinators = parseCoordinatorUrls(String(draft.coordinatorUrls));
  candidate.coordinatorUrls = 'urls' in coordinators ? coordinators.urls : undefined;
  // Tokens never come back from the main process: a blank field keeps the one saved, a typed one replaces it.
  for (const field of ['token', 'joinToken'] as const) if (candidate[field] === '') delete candidate[field];
  const parsed = settingsPatchSchema.safeParse(candidate);
  if (parsed.success && 'urls' in coordinators) return { patch: parsed.data };
  const errors: DraftErrors = 'error' in coordinators ? { coordinatorUrls: coordinators.error } : {};
  for (const issue of parsed.error?.issues ?? []) {
    const field = issue.path[0] as keyof SettingsPatch;
    errors[field] ??= issue.code === 'invalid_type' ? 'must be a whole number' : issue.message;
  }
  return { errors };
}
