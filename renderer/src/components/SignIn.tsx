import { useState, type FormEvent } from 'react';
import { useAppStore } from '../app-store';

export function SignIn() {
  const signIn = useAppStore((s) => s.signIn);
  const signInState = useAppStore((s) => s.signInState);
  const signInError = useAppStore((s) => s.signInError);
  const baseUrl = useAppStore((s) => s.baseUrl);
  const [token, setToken] = useState('');

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    void signIn(token);
  };

  return (
    <section className="card sign-in" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in to {baseUrl}</h1>
      <p className="hint">
        Paste a submit or admin token. The coordinator prints a sign-in link when it starts; opening that link signs in
        without typing.
      </p>
      <form onSubmit={onSubmit}>
        <label htmlFor="token">Token</label>
        <input
          id="token"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={token}
          onChange={(event) => setToken(event.target.value)}
        />
        <button type="submit" disabled={signInState === 'checking'}>
          {signInState === 'checking' ? 'Checking…' : 'Sign in'}
        </button>
      </form>
      {signInError && (
        <p className="error" role="alert">
          {signInError}
        </p>
      )}
    </section>
  );
}
