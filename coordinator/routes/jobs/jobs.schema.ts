import { z } from 'zod';
import { jobSpecSchema, listJobsQuerySchema } from '../../../protocol/api';

export const createJobSchema = jobSpecSchema;
export const listJobsSchema = listJobsQuerySchema;
export const lastEventIdSchema = z
  .string()
  .regex(/^\d{1,15}$/, 'Last-Event-ID must be the id of an event this stream sent (a whole number)')
  .transform(Number);
