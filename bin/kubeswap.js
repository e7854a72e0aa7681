#!/usr/bin/env node
// Entry point: runs the compiled CLI from dist/ (npm run build).
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
// main() has closed everything the run opened. Should a connection still be held open all the same (a watch the
// client library lost track of stayed open for its server-side timeout, minutes after a finished run), it must not
// keep the process, and the pipeline waiting on it, alive: a second later the process ends with main()'s exit code.
// The timer itself keeps nothing alive (unref).
setTimeout(() => process.exit(), 1000).unref();
