#!/usr/bin/env node
// The `saelab` command: the compiled CLI lives in dist/ (built by `npm ci` through `prepare`).
import { main } from '../dist/src/cli/main.js';
process.exitCode = await main(process.argv.slice(2));
