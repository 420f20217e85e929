import type { FormEvent } from 'react';
import { useAppStore } from '../app-store';
import { formatBytes } from '../lib/format';
import { routeHash } from '../lib/route';
import type { JobFormField } from '../lib/job-form';
import { DropZone } from './DropZone';
import { SecretsField } from './SecretsField';

export function SubmitView() {
  const submitJob = useAppStore((s) => s.submitJob);
  const submitting = useAppStore((s) => s.submitting);
  const submitError = useAppStore((s) => s.submitError);
  const zipping = useAppStore((s) => s.zipping);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const submitted = await submitJob();
    if (submitted?.job) window.location.hash = routeHash({ view: 'job', jobId: submitted.job.id });
    if (submitted?.group) window.location.hash = routeHash({ view: 'group', groupId: submitted.group.id });
  };

  return (
    <form
      className="submit-view"
      onSubmit={(event) => void onSubmit(event)}
      aria-label="Submit a job"
      // Ctrl+Enter (Cmd+Enter on a Mac) runs the job from any field, the commands box included.
      onKeyDown={(event) => {
        if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          event.currentTarget.requestSubmit();
        }
      }}
    >
      <div className="submit-main">
        <DropZone />
        <TextField field="commands" label="Commands (one per line)" multiline placeholder="e.g. make test" />
      </div>
      <div className="submit-side">
        <TargetChoice />
        <TextField field="name" label="Name" placeholder="(the first command)" />
        <TextField field="labels" label="Required labels" placeholder="(none: any worker), e.g. linux, gpu" />
        <div className="row">
          <TextField field="timeoutSec" label="Timeout (s)" placeholder="(pool default)" inputMode="numeric" />
          <TextField field="priority" label="Priority" placeholder="(normal: 0)" inputMode="numeric" />
          <TextField field="retries" label="Retries" placeholder="(none)" inputMode="numeric" />
        </div>
        <TextField field="outputs" label="Outputs to keep (globs)" placeholder="(none), e.g. dist/**" />
        <TextField field="matrix" label="Matrix (one job per value)" placeholder="(none), e.g. n=1,2,3 os=linux,mac" />
        <SecretsField />
        <UploadProgress />
        {submitError && (
          <p className="error" role="alert">
            {submitError}
          </p>
        )}
        <button type="submit" className="primary" disabled={submitting || zipping} aria-keyshortcuts="Control+Enter">
          {submitting ? 'Submitting…' : 'Run'} <kbd aria-hidden="true">Ctrl+Enter</kbd>
        </button>
      </div>
    </form>
  );
}

interface TextFieldProps {
  field: Exclude<JobFormField, 'target' | 'secrets'>;
  label: string;
  placeholder?: string;
  multiline?: boolean;
  inputMode?: 'numeric';
}

function TextField({ field, label, placeholder, multiline, inputMode }: TextFieldProps) {
  const value = useAppStore((s) => s.form[field]);
  const error = useAppStore((s) => s.fieldErrors[field]);
  const setFormField = useAppStore((s) => s.setFormField);
  const id = `job-${field}`;
  const common = {
    id,
    value,
    placeholder,
    'aria-invalid': error ? true : undefined,
    'aria-describedby': error ? `${id}-error` : undefined,
    spellCheck: false,
  };
  return (
    <div className={multiline ? 'field grow' : 'field'}>
      <label htmlFor={id}>{label}</label>
      {multiline ? (
        <textarea {...common} onChange={(event) => setFormField(field, event.target.value)} />
      ) : (
        <input {...common} inputMode={inputMode} onChange={(event) => setFormField(field, event.target.value)} />
      )}
      {error && (
        <span id={`${id}-error`} className="field-error">
          {error}
        </span>
      )}
    </div>
  );
}

/** "This PC" exists only in the desktop app, where a local agent can take the job. */
function TargetChoice() {
  const isDesktop = useAppStore((s) => s.isDesktop);
  const target = useAppStore((s) => s.form.target);
  const agentName = useAppStore((s) => s.desktopStatus?.agent.name ?? null);
  const error = useAppStore((s) => s.fieldErrors.target);
  const setFormField = useAppStore((s) => s.setFormField);
  if (!isDesktop) return null;
  return (
    <fieldset className="field target">
      <legend>Run on</legend>
      <label>
        <input type="radio" name="target" checked={target === 'pool'} onChange={() => setFormField('target', 'pool')} />
        Pool
      </label>
      <label>
        <input type="radio" name="target" checked={target === 'local'} onChange={() => setFormField('target', 'local')} />
        This PC{agentName ? ` (${agentName})` : ''}
      </label>
      {error && <span className="field-error">{error}</span>}
    </fieldset>
  );
}

function UploadProgress() {
  const upload = useAppStore((s) => s.upload);
  if (!upload) return null;
  const percent = upload.total > 0 ? Math.round((upload.loaded / upload.total) * 100) : 0;
  return (
    <div className="upload">
      <progress aria-label="Upload progress" max={upload.total || 1} value={upload.loaded} />
      <span>
        {percent}% of {formatBytes(upload.total)}
      </span>
    </div>
  );
}
