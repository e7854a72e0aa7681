// Preloaded into a measured kubeswap child (node --import): every Kubernetes request the child sends, counted by
// HttpCounter (each with its time, selectors and bytes), is written as JSON to $KUBESWAP_BENCH_REQUESTS on exit. The
// child runs the built CLI, not this checkout's TypeScript: scale-bench.ts hands it this file and counting.ts with
// their types stripped (preloadRequestCounter), since Node's own type stripping would add ~20 MB to the RSS measured.
import { writeFileSync } from 'node:fs';
import { HttpCounter } from './counting.ts';

const file = process.env['KUBESWAP_BENCH_REQUESTS'];
if (file) {
  const http = new HttpCounter({ everyRequest: true });
  process.on('exit', () => writeFileSync(file, JSON.stringify(http.sent)));
}
