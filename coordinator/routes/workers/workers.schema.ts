export { claimSchema, heartbeatSchema, registerWorkerSchema } from '../../../protocol/api';
