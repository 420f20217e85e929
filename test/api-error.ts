import { expect } from 'vitest';
import { ApiError } from '../protocol/client';

/** Asserts the call failed with this HTTP status (and code) and a message a person can read. */
export async function expectApiError(promise: Promise<unknown>, status: number, code?: string): Promise<ApiError> {
  const err = await promise.then(
    () => {
      throw new Error(`expected HTTP ${status}, got success`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  expect((err as ApiError).status).toBe(status);
  if (code) expect((err as ApiError).code).toBe(code);
  expect((err as ApiError).message.length).toBeGreaterThan(10);
  return err as ApiError;
}
