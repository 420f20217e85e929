#!/usr/bin/env node
// The compiled `submit` command line (build/compile-node.js).
import { runCompiled } from '../build/compile-node.js';

await runCompiled('submit');
