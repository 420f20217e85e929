import { useState, type FormEvent } from 'react';
import type { Settings, SettingsPatch } from '../../../protocol/ipc';
import { SCHEDULE_EXAMPLE } from '../../../protocol/schedule';
import { useAppStore } from '../app-store';
import { draftOf, patchOf, type Draft, type DraftErrors } from '../lib/settings-form';
import { LanPools } from './LanPools';

export function SettingsView() {
  const settings = useAppStore((s) => s.settings);
  if (!settings) return <p className="hint">Loading settings…</p>;
  // A new form when the settings change outside it (an invite link was confirmed).
  return <SettingsForm key={JSON.stringify(settings)} settings={settings} />;
}

function SettingsForm({ settings }: { settings: Settings }) {
  const saveSettings = useAppStore((s) => s.saveSettings);
  const [draft, setDraft] = useState<Draft>(() => draftOf(settings));
  const [errors, setErrors] = useState<DraftErrors>({});
  const [saved, setSaved] = useState(false);

  const change = (field: keyof SettingsPatch, value: string | boolean) => {
    setDraft({ ...draft, [field]: value });
    setSaved(false);
  };
  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const result = patchOf(draft);
    if ('errors' in result) {
      setErrors(result.errors);
      return;
    }
    setErrors({});
    setSaved(await saveSettings(result.patch));
  };

  const text = (field: keyof SettingsPatch, label: string, type: 'text' | 'password' | 'number' = 'text') => (
    <div className="field">
      <label htmlFor={`settings-${field}`}>{label}</label>
      <input
        id={`settings-${field}`}
        type={type}
        value={String(draft[field])}
        spellCheck={false}
        autoComplete="off"
        aria-invalid={errors[field] ? true : undefined}
        onChange={(event) => change(field, event.target.value)}
      />
      {errors[field] && <span className="field-error">{errors[field]}</span>}
    </div>
  );
  const lines = (field: keyof SettingsPatch, label: string, hint: string) => (
    <div className="field">
      <label htmlFor={`settings-${field}`}>{label}</label>
      <textarea
        id={`settings-${field}`}
        rows={2}
        value={String(draft[field])}
        spellCheck={false}
        autoComplete="off"
        aria-invalid={errors[field] ? true : undefined}
        aria-describedby={`settings-${field}-hint`}
        onChange={(event) => change(field, event.target.value)}
      />
      <span id={`settings-${field}-hint`} className="hint">
        {hint}
      </span>
      {errors[field] && <span className="field-error">{errors[field]}</span>}
    </div>
  );
  const check = (field: keyof SettingsPatch, label: string) => (
    <label className="check">
      <input type="checkbox" checked={draft[field] === true} onChange={(event) => change(field, event.target.checked)} /> {label}
    </label>
  );

  return (
    <form className="settings" onSubmit={(event) => void onSubmit(event)} aria-label="Settings">
      <fieldset>
        <legend>Pool</legend>
        {check('hostPool', 'Host the pool on this PC')}
        {draft.hostPool
          ? text('hostPort', 'Port (0 = any free port)', 'number')
          : lines('coordinatorUrls', 'Coordinator addresses', 'One per line (or comma-separated): the nodes of one pool, tried in turn when one is down.')}
        {!draft.hostPool && text('coordinatorFingerprint', 'Certificate SHA-256 (from the pool host)')}
        {!draft.hostPool && (
          <LanPools
            chosenUrl={String(draft.coordinatorUrls).split(/[\s,]+/)[0] ?? ''}
            onChoose={(pool) => {
              setDraft({ ...draft, coordinatorUrls: pool.url, coordinatorFingerprint: pool.fingerprint ?? '' });
              setSaved(false);
            }}
          />
        )}
        {text('token', 'Submit token (kept; type to replace)', 'password')}
        {text('joinToken', 'Join token or enrollment code (kept; type to replace)', 'password')}
      </fieldset>
      <fieldset>
        <legend>Contribute</legend>
        {check('contributeWhenIdle', 'Contribute when idle')}
        {check('alwaysContribute', 'Always contribute (dedicated PC)')}
        {check('onlyOnAC', 'Only on AC power')}
        {text('idleMinutes', 'Start after idle for (minutes)', 'number')}
        {text('maxOthersCpuPercent', 'Only while other programs use less than (% CPU)', 'number')}
        {text('contributeHours', `Only during (e.g. ${SCHEDULE_EXAMPLE}; empty = any time)`)}
      </fieldset>
      <fieldset>
        <legend>This worker</legend>
        {text('workerName', 'Worker name (empty = computer name)')}
        {text('labels', 'Labels')}
        {text('slots', 'Jobs at a time', 'number')}
        {check('allowNetwork', 'Let jobs that ask for it use the network')}
        {text('trustedSubmitters', 'Without a sandbox, run only jobs from (names, * = everyone)')}
      </fieldset>
      <div className="settings-actions">
        <button type="submit" className="primary">
          Save
        </button>
        {saved && <span role="status">Saved.</span>}
      </div>
    </form>
  );
}
