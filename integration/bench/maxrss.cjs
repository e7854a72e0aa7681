// Preloaded into a measured child (node --require): reports its peak resident set size on exit (kernel high-water mark)
// and its CPU time (user + system, microseconds): on a shared machine CPU time moves far less with the load than wall time.
process.on('exit', () => {
  const u = process.resourceUsage();
  process.stderr.write(`\nMAXRSS ${u.maxRSS} CPU ${u.userCPUTime + u.systemCPUTime}\n`);
});
