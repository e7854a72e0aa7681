// Preloaded into a measured child (node --require): reports its peak resident set size on exit (kernel high-water mark).
process.on('exit', () => process.stderr.write(`\nMAXRSS ${process.resourceUsage().maxRSS}\n`));
