// The agent logs with the shape the whole project shares (common/logger.ts).
export * from '../../common/logger';
