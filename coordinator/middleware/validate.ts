// Validates a request part against a zod schema and puts the result in ctx.state.input.
import type { Next } from 'koa';
import type { z } from 'zod';
import { ValidationError } from '../errors';
import type { AppContext } from './context';

/** One readable sentence from zod's issues: where and what, for the first few problems. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    // An issue of the whole part (an unknown key, a wrong type) is said without a place: the caller names the part.
    .map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}

export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what = 'request'): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(`invalid ${what}: ${describeIssues(result.error)}`);
  return result.data;
}

export function validate<S extends z.ZodType>(schema: S, source: 'body' | 'query' = 'body') {
  return async function validateInput(ctx: AppContext, next: Next): Promise<void> {
    const value = source === 'body' ? (ctx.request.body ?? {}) : ctx.query;
    ctx.state.input = parseInput(schema, value, source === 'body' ? 'body' : 'query');
    await next();
  };
}

export const inputOf = <S extends z.ZodType>(ctx: AppContext, _schema: S): z.output<S> => ctx.state.input as z.output<S>;
