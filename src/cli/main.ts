// kubeswap's entry: parse, then run one command and map the outcome to an exit code.
// The only module that decides exit codes or writes to stdout/stderr (with commands/run.ts, which it loads).
// Kept light: the clients (AWS SDK, client-node, etcd3) load only with a command that needs them.
import yargs from 'yargs';
import { describeError, KubeswapError } from '../domain/errors.ts';
import { ALL_FLAGS, applyOptions, globalOptions, planOptions, reportOptions, unlockOptions } from './config/options.ts';
import type { Command } from './config/spec.ts';
import { nearest } from './config/suggest.ts';
import { EXIT } from './exit-codes.ts';
import { type Io, processIo } from './io.ts';
import { packageVersion } from './package-info.ts';

type Parsed = { command: Command; args: Record<string, unknown> } | { command: 'config-schema' };

const EXAMPLES: [string, string][] = [
  ['$0 plan --config kubeswap.yaml --to v1.37.2', 'what would be replaced, in order, and why'],
  ['$0 apply --config kubeswap.yaml --to v1.37.2 --yes', 'replace the control-plane machines'],
  ['$0 apply --config kubeswap.yaml --image ami-0abc --yes', 're-image at the same version'],
  ['KUBESWAP_CERTIFICATE_KEY=... $0 apply --user-data render --to v1.37.2', 'render the kubeadm join'],
  ['$0 plan --config kubeswap.yaml --to v1.37.2 --out plan.json', 'save the plan for review'],
  ['$0 apply plan.json', 'run exactly the saved plan (refused when the cluster moved on)'],
  ['$0 status -o json', 'lock holder and progress record, as JSON'],
  ['$0 report >> "$GITHUB_STEP_SUMMARY"', 'the last run as Markdown with Mermaid charts'],
  ['$0 completion >> ~/.bashrc', 'shell completion'],
];

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  let parsed: Parsed | undefined;
  const chosen = (command: Command) => (args: Record<string, unknown>) => {
    parsed = { command, args };
  };
  let parser = globalOptions(
    yargs(argv)
      .scriptName('kubeswap')
      .usage('$0 <command> [options]\n\nReplace the control-plane machines of a kubeadm cluster one at a time.'),
  )
    .command('plan', 'show which machines would be replaced, in order, and why', planOptions, chosen('plan'))
    .command(
      'apply [plan]',
      'replace the machines until the cluster matches the target (or exactly as a plan saved with plan --out)',
      (y) => applyOptions(y).positional('plan', { type: 'string', describe: 'a plan saved by kubeswap plan --out' }),
      chosen('apply'),
    )
    .command('status', 'show the lock holder and the progress record', {}, chosen('status'))
    .command(
      'unlock',
      'show the lock holder; break the lock when it is stale (or with --force)',
      unlockOptions,
      chosen('unlock'),
    )
    .command(
      'abandon',
      'give up an unfinished run (after a rollback): close its progress record, release its lock; no machine changes',
      {},
      chosen('abandon'),
    )
    .command(
      'report',
      'the Markdown report of a run (timeline, availability, verification), from what the run kept in the cluster',
      reportOptions,
      chosen('report'),
    )
    .command('config', 'configuration file tools', (y) =>
      y
        .command('schema', 'print the JSON Schema of the config file (for editors)', {}, () => {
          parsed = { command: 'config-schema' };
        })
        .demandCommand(1, 'give a config command: schema'),
    )
    .completion('completion', 'print a bash/zsh completion script (e.g. kubeswap completion >> ~/.bashrc)')
    .demandCommand(1, 'give a command: plan, apply, status, report, unlock or abandon')
    .recommendCommands()
    .strict()
    .help()
    .alias('h', 'help')
    .version(packageVersion())
    .alias('V', 'version')
    .epilogue(
      'Every option can also be set as KUBESWAP_<FLAG> (e.g. KUBESWAP_DRAIN_TIMEOUT=15m) or in the --config file.\n' +
        'Precedence: flags > environment > file > defaults. Invalid input exits 2 before anything is contacted.',
    )
    .wrap(Math.min(120, process.stdout.columns || 120))
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new KubeswapError('invalid', 'input.usage', withSuggestions(msg, argv));
    });
  for (const [command, description] of EXAMPLES) parser = parser.example(command, description);

  let output = '';
  try {
    await parser.parseAsync(argv, {}, (_err, _argv, text) => {
      output = text;
    });
  } catch (err) {
    io.stderr.write(`error: ${describeError(err)}\nRun kubeswap --help for usage.\n`);
    return EXIT.invalid;
  }
  if (!parsed) {
    if (output) io.stdout.write(`${output}\n`);
    return EXIT.ok;
  }
  if (parsed.command === 'config-schema') {
    const { configJsonSchema } = await import('./config/schema.ts');
    io.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    return EXIT.ok;
  }
  const { run } = await import('./commands/run.ts');
  return run(parsed.command, parsed.args, io);
}

/** yargs names unknown flags (twice: as given and camelCased) but does not guess; name each once, with a guess. */
function withSuggestions(message: string, argv: string[]): string {
  if (message.startsWith('Did you mean')) return `unknown command ${argv[0]}. ${message}`;
  const match = /^Unknown arguments?: (.*)$/.exec(message);
  if (!match) return message;
  const given = new Set(argv.filter((a) => a.startsWith('-')).map((a) => a.replace(/^-+/, '').split('=')[0]!));
  const unknown = match[1]!.split(', ').filter((arg) => given.has(arg) || !/[A-Z]/.test(arg));
  const named = unknown.map((arg) => {
    const flag = arg.length === 1 ? `-${arg}` : `--${arg}`;
    const guess = nearest(arg, ALL_FLAGS);
    return guess ? `${flag} (did you mean --${guess}?)` : flag;
  });
  return `Unknown argument${named.length > 1 ? 's' : ''}: ${named.join(', ')}`;
}
