#!/usr/bin/env node
// `npm run bench`: runs the TypeScript benchmark through tsx (like `node coordinator`), so there is no build step.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
