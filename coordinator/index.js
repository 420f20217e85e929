#!/usr/bin/env node
// `node coordinator`: the same command line as bin/coordinator.js.
import '../bin/coordinator.js';
