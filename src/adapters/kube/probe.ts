// The ApiProbePort: GET /readyz through the kubeconfig's server (the load balancer) with its credentials, on a new
// connection each time (keep-alive would pin every probe to one apiserver and hide the others leaving) and with no
// retry: a failure is what a client would have seen.
import { Agent, request } from 'node:https';
import type { ApiProbePort } from '../../ports/probe.ts';
import { type KubeconfigOptions, loadKubeconfig } from './config.ts';

export const PROBE_TIMEOUT_MS = 2_000;

export function openApiProbe(options: KubeconfigOptions, timeoutMs = PROBE_TIMEOUT_MS): ApiProbePort {
  const { kc, summary } = loadKubeconfig(options);
  const url = new URL('/readyz', summary.server);
  let agent: Agent | undefined;
  const agentFor = async (): Promise<{ agent: Agent; headers: Record<string, string> }> => {
    const opts: { ca?: Buffer; cert?: Buffer; key?: Buffer; headers?: Record<string, string> } = {};
    await kc.applyToHTTPSOptions(opts as Parameters<typeof kc.applyToHTTPSOptions>[0]);
    agent ??= new Agent({ ca: opts.ca, cert: opts.cert, key: opts.key, keepAlive: false });
    return { agent, headers: opts.headers ?? {} };
  };
  return {
    probe: async () => {
      const { agent: a, headers } = await agentFor();
      await new Promise<void>((resolve, reject) => {
        const req = request(url, { agent: a, headers, timeout: timeoutMs }, (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200 ? resolve() : reject(new Error(`GET ${url.pathname}: HTTP ${res.statusCode}`)),
          );
        });
        req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end();
      });
    },
    close: () => agent?.destroy(),
  };
}
