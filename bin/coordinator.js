#!/usr/bin/env node
// The compiled `coordinator` command line (build/compile-node.js).
import { runCompiled } from '../build/compile-node.js';

await runCompiled('coordinator');
