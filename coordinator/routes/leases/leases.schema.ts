import { z } from 'zod';
export { commandEndSchema, commandStartSchema, completeSchema, leaseStateSchema, outputBytesQuerySchema, outputChunksSchema, releaseSchema } from '../../../protocol/api';

export const commandIndexSchema = z.coerce.number().int().min(0).max(10_000);
