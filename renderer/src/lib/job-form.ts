// The submit form as the user types it, and its translation into a JobSpec checked by the same zod schema
// the coordinator uses, so mistakes are shown beside the field before anything is uploaded.
import { jobSpecSchema, type JobSpec, type ResolvedJobSpec } from '../../../protocol/api';
import { hostLabel } from '../../../protocol/host-label';

export type Target = 'pool' | 'local';

export interface JobForm {
  name: string;
  /** One command per line. */
  commands: string;
  target: Target;
  /** Comma- or space-separated. */
  labels: string;
  /** Seconds; blank = the coordinator's default. */
  timeoutSec: string;
  priority: string;
  /** Runs again after a failed command, up to this many times; blank = none. */
  retries: string;
  /** Globs, comma- or space-separated. */
  outputs: string;
  /** Fan-out: `name=v1,v2` entries, space- or semicolon-separated; one job per combination. */
  matrix: string;
  /** Write-only: the form shows their names, never their values. */
  secrets: Record<string, string>;
}

export const emptyJobForm: JobForm = {
  name: '',
  commands: '',
  target: 'pool',
  labels: '',
  timeoutSec: '',
  priority: '',
  retries: '',
  outputs: '',
  matrix: '',
  secrets: {},
};

export type JobFormField = keyof JobForm;
export type FieldErrors = Partial<Record<JobFormField, string>>;

export type SpecResult = { ok: true; spec: JobSpec } | { ok: false; errors: FieldErrors };

const words = (text: string) => text.split(/[\s,]+/).filter(Boolean);

/** `n=1,2,3 os=linux,mac` (or `;`-separated) → {n: [1,2,3], os: [linux, mac]}; an entry without `=` is an error. */
function parseMatrix(text: string, errors: FieldErrors): Record<string, string[]> | undefined {
  const entries = text.split(/[\s;]+/).filter(Boolean);
  if (entries.length === 0) return undefined;
  const matrix: Record<string, string[]> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq <= 0) {
      errors.matrix = `write each name as name=value1,value2 (got "${entry}")`;
      return undefined;
    }
    matrix[entry.slice(0, eq)] = entry.slice(eq + 1).split(',').filter(Boolean);
  }
  return matrix;
}

function integer(text: string, field: JobFormField, errors: FieldErrors): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  if (!/^-?\d+$/.test(trimmed)) {
    errors[field] = 'must be a whole number';
    return undefined;
  }
  return Number(trimmed);
}

/** Spec fields the form has no control for; a re-run carries them over from the original job. */
export type CarriedSpec = Pick<JobSpec, 'shell' | 'env' | 'maxAttempts' | 'continueOnError' | 'network' | 'requireSandbox' | 'limits'>;

/**
 * `localAgentName` is the desktop's own agent; "This PC" needs it (the browser never offers that target).
 */
export function buildJobSpec(form: JobForm, localAgentName: string | null, carried: CarriedSpec = {}): SpecResult {
  const errors: FieldErrors = {};
  const commands = form.commands
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  const labels = words(form.labels);
  if (form.target === 'local') {
    if (localAgentName) labels.push(hostLabel(localAgentName));
    else errors.target = 'this PC has no running agent: turn on contributing or choose Pool';
  }
  const timeoutSec = integer(form.timeoutSec, 'timeoutSec', errors);
  const priority = integer(form.priority, 'priority', errors);
  const retries = integer(form.retries, 'retries', errors);
  const outputs = words(form.outputs);
  const matrix = parseMatrix(form.matrix, errors);
  const candidate: JobSpec = { ...carried, commands };
  if (form.name.trim()) candidate.name = form.name.trim();
  if (labels.length) candidate.labels = [...new Set(labels)];
  if (timeoutSec !== undefined) candidate.timeoutSec = timeoutSec;
  if (priority !== undefined) candidate.priority = priority;
  if (retries !== undefined) candidate.retries = retries;
  if (outputs.length) candidate.outputs = outputs;
  if (matrix) candidate.matrix = matrix;
  if (Object.keys(form.secrets).length) candidate.secrets = form.secrets;

  const parsed = jobSpecSchema.safeParse(candidate);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const field = issue.path[0] as JobFormField | undefined;
      const key: JobFormField = field && field in emptyJobForm ? field : 'commands';
      const at = issue.path[1];
      const where = typeof at === 'number' ? ` (item ${at + 1})` : typeof at === 'string' ? ` (${at})` : '';
      errors[key] ??= `${issue.message}${where}`;
    }
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, spec: parsed.data as JobSpec };
}

/** The form (and the fields it has no control for) that would submit `spec` again: "Re-run". A pin to a host stays a label. */
export function formFromSpec(spec: ResolvedJobSpec): { form: JobForm; carried: CarriedSpec } {
  const carried: CarriedSpec = { env: spec.env, maxAttempts: spec.maxAttempts, continueOnError: spec.continueOnError };
  if (spec.shell) carried.shell = spec.shell;
  // Specs stored before these fields existed lack them.
  if (spec.network) carried.network = true;
  if (spec.requireSandbox) carried.requireSandbox = true;
  if (spec.limits && Object.keys(spec.limits).length > 0) carried.limits = spec.limits;
  const form: JobForm = {
    name: spec.name,
    commands: spec.commands.join('\n'),
    target: 'pool',
    labels: spec.labels.join(', '),
    timeoutSec: String(spec.timeoutSec),
    priority: spec.priority === 0 ? '' : String(spec.priority),
    retries: spec.retries ? String(spec.retries) : '',
    outputs: spec.outputs.join(', '),
    // A matrix job runs again alone: its values stay in its env.
    matrix: '',
    secrets: {},
  };
  return { form, carried };
}
