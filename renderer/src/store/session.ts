// Who we are to the coordinator. In the browser the token is asked for once and kept in localStorage (or
// taken from the coordinator's sign-in link); the desktop window needs none: its main process adds this
// PC's token to API calls (protocol/ipc.ts).
import { ApiError, createClient, errorMessage, type ApiClient } from '../api';
import type { SliceCreator, StoreDeps } from './types';

export const TOKEN_KEY = 'cmdx.token';

export type SignInState = 'signed_out' | 'checking' | 'signed_in';

export interface SessionSlice {
  baseUrl: string;
  client: ApiClient | null;
  signInState: SignInState;
  signInError: string | null;
  isDesktop: boolean;
  /** Signs in with the link's token, else the stored one; the desktop window is signed in by its main process. */
  resumeSession(tokenFromLink: string | null): Promise<void>;
  /** Checks the token against the coordinator and keeps it when accepted. */
  signIn(token: string): Promise<boolean>;
  signOut(reason?: string): void;
  /** Turns a failed call into a message; a rejected token signs out, since every later call would fail the same way. */
  failureMessage(err: unknown): string;
}

export const createSessionSlice =
  (deps: StoreDeps): SliceCreator<SessionSlice> =>
  (set, get) => ({
    baseUrl: deps.defaultBaseUrl,
    client: null,
    signInState: 'signed_out',
    signInError: null,
    isDesktop: deps.desktop !== null,

    async resumeSession(tokenFromLink) {
      if (deps.desktop) {
        set({ client: createClient(get().baseUrl, ''), signInState: 'signed_in' });
        return;
      }
      const token = tokenFromLink ?? deps.storage.getItem(TOKEN_KEY);
      if (token) await get().signIn(token);
    },

    async signIn(token) {
      const trimmed = token.trim();
      if (!trimmed) {
        set({ signInError: 'enter the token the coordinator printed (or open its sign-in link)' });
        return false;
      }
      const client = createClient(get().baseUrl, trimmed);
      set({ signInState: 'checking', signInError: null });
      try {
        await client.listJobs({ limit: 1 });
      } catch (err) {
        const rejected = err instanceof ApiError && (err.status === 401 || err.status === 403);
        if (rejected) deps.storage.removeItem(TOKEN_KEY);
        set({
          signInState: 'signed_out',
          client: null,
          signInError: rejected ? 'the coordinator did not accept this token' : errorMessage(err),
        });
        return false;
      }
      deps.storage.setItem(TOKEN_KEY, trimmed);
      set({ client, signInState: 'signed_in', signInError: null });
      return true;
    },

    signOut(reason) {
      get().closeJob();
      get().resetPool();
      deps.storage.removeItem(TOKEN_KEY);
      set({
        client: null,
        signInState: 'signed_out',
        signInError: reason ?? null,
        jobs: [],
        jobsCursor: null,
        workers: [],
      });
    },

    failureMessage(err) {
      if (err instanceof ApiError && err.status === 401 && !deps.desktop) {
        get().signOut('the coordinator no longer accepts this token: sign in again');
      }
      return errorMessage(err);
    },
  });
