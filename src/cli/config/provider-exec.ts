// The exec provider's section (`provider: {name: exec, command: [...], ...}`, providers/README.md): checked with
// every other setting before anything runs. The provider reads the same keys (providers/exec/options.ts).
import type { Problem } from '../../domain/errors.ts';
import { inProvider, type SettingSpec, setting } from './spec.ts';

export const execSettings: SettingSpec[] = [
  setting({
    key: 'execCommand',
    scope: 'global',
    group: 'provider',
    kind: 'map',
    describe: "exec provider: the command's argv (the verb is appended), or one executable path",
    value: (v) => v.z.union([v.z.string().min(1), v.z.array(v.z.string().min(1)).min(1)]),
    invalid: '{name} must be an executable path or a list of arguments, got {value}',
    file: inProvider('command'),
    path: false,
  }),
  setting({
    key: 'execTimeout',
    scope: 'global',
    group: 'provider',
    kind: 'string',
    describe: 'exec provider: longest one call of the command may take',
    defaultText: '5m',
    // Checked here, handed to the provider as given (it reads the same duration syntax).
    value: (v) =>
      v.z.union([v.z.string(), v.z.number()]).refine((x) => v.duration().safeParse(x).success, {
        message: '{name} {value} is not a duration (e.g. 90s, 15m, 1h30m)',
        params: { code: 'input.duration' },
      }),
    file: inProvider('timeout'),
  }),
  setting({
    key: 'execLoadBalancer',
    scope: 'global',
    group: 'provider',
    kind: 'boolean',
    describe: 'exec provider: the command answers targets, register and deregister for the API load balancer',
    value: (v) => v.z.boolean(),
    file: inProvider('loadBalancer'),
  }),
  setting({
    key: 'execCapabilities',
    scope: 'global',
    group: 'provider',
    kind: 'map',
    describe: 'exec provider: {surge, ownsLoadBalancer, rendersBootstrap, acceptsUserData, idempotencyKey}',
    value: (v) =>
      v.z
        .object({
          surge: v.z.boolean().optional(),
          ownsLoadBalancer: v.z.boolean().optional(),
          rendersBootstrap: v.z.boolean().optional(),
          acceptsUserData: v.z.boolean().optional(),
          idempotencyKey: v.z.enum(['client-token', 'name', 'tag']).optional(),
        })
        .strict(),
    invalid:
      '{name} takes surge, ownsLoadBalancer, rendersBootstrap, acceptsUserData (true/false) and idempotencyKey, got {value}',
    file: inProvider('capabilities'),
  }),
  setting({
    key: 'execProviderIdPattern',
    scope: 'global',
    group: 'provider',
    kind: 'string',
    describe: "exec provider: a regular expression whose one group is the machine id in a Node's providerID",
    value: (v) =>
      v.z.string().refine(
        (p) => {
          try {
            return new RegExp(p).exec('') !== undefined;
          } catch {
            return false;
          }
        },
        { message: '{name} {value} is not a regular expression' },
      ),
    file: inProvider('providerIdPattern'),
  }),
  setting({
    key: 'execEnv',
    scope: 'global',
    group: 'provider',
    kind: 'map',
    describe: 'exec provider: extra environment for the command',
    value: (v) => v.z.record(v.z.string(), v.z.string()),
    invalid: '{name} must map variable names to strings',
    file: inProvider('env'),
  }),
];

export function execProblems(values: Record<string, unknown>): Problem[] {
  return values['execCommand']
    ? []
    : [
        {
          code: 'input.exec-command',
          message: 'the exec provider needs provider.command (its argv) in the config file',
        },
      ];
}
