// Issue 13 §4: the run report renders in a real browser. Turns a report's Markdown into a page (marked), renders its
// Mermaid blocks with Mermaid itself in headless Chromium, and fails unless every block became an SVG without a parse
// error; saves a screenshot. Not part of the default CI path: it needs Chromium (Debian: apt-get install chromium)
// and Mermaid + marked, installed on first use into ~/.cache/kubeswap/report-browser (npm, pinned versions).
//   node --import tsx integration/report-browser/check.ts [REPORT.md] [SCREENSHOT.png]
// Without REPORT.md it renders the report of a 3-machine run over the engine's fake world. A real run's report:
// KUBESWAP_REPORT_OUT=/tmp/report.md when running integration/scenarios/upgrade-three.test.ts writes one.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

const CACHE = join(homedir(), '.cache/kubeswap/report-browser');
const VERSIONS = { mermaid: '12.3.0', marked: '18.2.1' };

function ensureLibraries(): void {
  if (
    existsSync(join(CACHE, 'node_modules/mermaid/dist/mermaid.min.js')) &&
    existsSync(join(CACHE, 'node_modules/marked'))
  )
    return;
  mkdirSync(CACHE, { recursive: true });
  if (!existsSync(join(CACHE, 'package.json'))) writeFileSync(join(CACHE, 'package.json'), '{"private":true}\n');
  execFileSync(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      `mermaid@${VERSIONS.mermaid}`,
      `marked@${VERSIONS.marked}`,
    ],
    { cwd: CACHE, stdio: 'inherit' },
  );
}

function chromium(): string {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    } catch {
      // next
    }
  }
  throw new Error('no Chromium found (Debian: apt-get install chromium)');
}

async function sampleReport(): Promise<string> {
  const { fanOut } = await import('../../src/domain/events.ts');
  const { availabilitySeries, summarizeAvailability } = await import('../../src/domain/availability.ts');
  const { DEFAULT_ENGINE_OPTIONS } = await import('../../src/engine/ports.ts');
  const { apply } = await import('../../src/engine/run/run.ts');
  const { markdownReport } = await import('../../src/cli/render/report.ts');
  const { FakeWorld } = await import('../../test/engine/fake-world.ts');
  const { TO } = await import('../../test/engine/builders.ts');
  const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
  const ports = world.ports();
  await apply(
    { ...ports, emit: fanOut(ports.emit) },
    { version: TO, force: false },
    {
      ...DEFAULT_ENGINE_OPTIONS,
      gatePasses: 2,
      snapshotDir: '/tmp',
    },
  );
  const events = world.log.events;
  const from = Date.parse(events[0]!.at);
  const to = Date.parse(events[events.length - 1]!.at);
  const samples = Array.from({ length: Math.floor((to - from) / 250) }, (_, i) => ({
    at: from + i * 250,
    ok: i % 151 !== 7,
    latencyMs: 8 + (i % 11),
  }));
  events.push({
    code: 'availability.run',
    at: new Date(to).toISOString(),
    level: 'info',
    message: 'during the run (synthetic probe samples)',
    data: { ...summarizeAvailability(samples, from, to), series: availabilitySeries(samples, from, to) },
  });
  return markdownReport(events, { exitCode: 0 });
}

async function main(): Promise<void> {
  const [input, output = resolve('kubeswap-report.png')] = process.argv.slice(2);
  const markdown = input ? readFileSync(input, 'utf8') : await sampleReport();
  ensureLibraries();
  // marked lives outside the project's dependencies (see above): typed here as far as it is used.
  interface CodeToken {
    lang?: string;
    text: string;
  }
  interface Marked {
    Renderer: new () => { code(token: CodeToken): string };
    parse(markdown: string, options: { renderer: unknown; gfm: boolean }): Promise<string> | string;
  }
  const { marked } = (await import(join(CACHE, 'node_modules/marked/lib/marked.esm.js'))) as { marked: Marked };
  const blocks = [...markdown.matchAll(/```mermaid\n/g)].length;
  const renderer = new marked.Renderer();
  const code = renderer.code.bind(renderer);
  renderer.code = (token: CodeToken) =>
    token.lang === 'mermaid' ? `<pre class="mermaid">${escapeHtml(token.text)}</pre>` : code(token);
  const body = await marked.parse(markdown, { renderer, gfm: true });
  const page = join(CACHE, 'report.html');
  writeFileSync(
    page,
    `<!doctype html><html><head><meta charset="utf-8"><title>kubeswap report</title>
<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}</style>
<script src="file://${join(CACHE, 'node_modules/mermaid/dist/mermaid.min.js')}"></script></head>
<body>${body}<script>
(async () => {
  const errors = [];
  mermaid.initialize({ startOnLoad: false });
  for (const el of document.querySelectorAll('pre.mermaid')) {
    try { await mermaid.parse(el.textContent); } catch (e) { errors.push(String(e.message || e).slice(0, 300)); }
  }
  try { await mermaid.run({ querySelector: 'pre.mermaid' }); } catch (e) { errors.push(String(e.message || e).slice(0, 300)); }
  document.body.setAttribute('data-errors', JSON.stringify(errors));
  document.body.setAttribute('data-svgs', String(document.querySelectorAll('pre.mermaid svg').length));
})();
</script></body></html>`,
  );
  const browser = chromium();
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--virtual-time-budget=20000'];
  const dom = execFileSync(browser, [...flags, '--dump-dom', `file://${page}`], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const errors = JSON.parse(unescapeHtml(/data-errors="([^"]*)"/.exec(dom)?.[1] ?? '["page did not finish"]'));
  const svgs = Number(/data-svgs="(\d+)"/.exec(dom)?.[1] ?? 0);
  execFileSync(browser, [...flags, '--window-size=1280,3000', `--screenshot=${output}`, `file://${page}`], {
    stdio: 'ignore',
  });
  console.log(`${blocks} Mermaid block(s), ${svgs} rendered as SVG, ${errors.length} error(s); screenshot ${output}`);
  for (const e of errors) console.log(`  error: ${e}`);
  if (errors.length > 0 || svgs !== blocks || blocks === 0) process.exit(1);
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const unescapeHtml = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

await main();
