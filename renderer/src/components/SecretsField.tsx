// Job secrets: typed into a password field, listed by name only. A value never appears on screen again, and
// the form drops them once the job is sent.
import { useState } from 'react';
import { useAppStore } from '../app-store';

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export function SecretsField() {
  const secrets = useAppStore((s) => s.form.secrets);
  const error = useAppStore((s) => s.fieldErrors.secrets);
  const setFormField = useAppStore((s) => s.setFormField);
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [problem, setProblem] = useState<string | null>(null);

  const add = () => {
    if (!SECRET_NAME.test(name)) return setProblem('a secret name is letters, digits and _ (not starting with a digit)');
    if (!value) return setProblem('type the secret value');
    setFormField('secrets', { ...secrets, [name]: value });
    setName('');
    setValue('');
    setProblem(null);
  };
  const remove = (gone: string) => {
    const { [gone]: _removed, ...rest } = secrets;
    setFormField('secrets', rest);
  };

  return (
    <fieldset className="field secrets" aria-label="Secrets">
      <legend>Secrets (env variables, masked in output)</legend>
      <div className="row">
        <input aria-label="Secret variable" placeholder="NPM_TOKEN" value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
        <input
          aria-label="Secret value"
          type="password"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          autoComplete="new-password"
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              add();
            }
          }}
        />
        <button type="button" onClick={add}>
          Add
        </button>
      </div>
      {Object.keys(secrets).length > 0 && (
        <div className="labels" data-testid="secret-names">
          {Object.keys(secrets).map((secret) => (
            <span key={secret} className="label">
              {secret}{' '}
              <button type="button" className="link" aria-label={`Remove secret ${secret}`} onClick={() => remove(secret)}>
                ×
              </button>
            </span>
          ))}
        </div>
      )}
      {(problem ?? error) && (
        <p className="field-error" role="alert">
          {problem ?? error}
        </p>
      )}
    </fieldset>
  );
}
