// The command's answers, checked field by field: a script's mistake becomes one error naming the verb and
// the field (`list: machines[1].phase "up" is not one of ...`), never a Machine with holes in it.
import type {
  ApiTarget,
  ApiTargetState,
  DriftReason,
  ImageFacts,
  Machine,
  MachinePhase,
} from '../../src/domain/model.ts';
import type { ProviderProblem } from '../../src/ports/machines.ts';
import { ExecProviderError } from './errors.ts';
import { isRecord } from './invoke.ts';

const PHASES: MachinePhase[] = ['provisioning', 'running', 'deleting', 'gone', 'failed'];
const TARGET_STATES: ApiTargetState[] = ['registering', 'serving', 'unhealthy', 'draining', 'absent', 'unmonitored'];

/** A Machine with what only this provider reads back; the engine hands these objects back unchanged. */
export interface ExecMachine extends Machine {
  /** Drift the command itself found (a Terraform plan, a changed instance type), added to the image check. */
  reportedDrift: DriftReason[];
  /** Why the command does not manage this machine as configured (checkMachines). */
  problems: ProviderProblem[];
  /** The command's own facts (a subnet, a name): sent back with `create` as `replaces.data`. */
  data?: Record<string, unknown>;
}

/** Collects every problem of one response, then throws them together. */
class Checker {
  readonly problems: string[] = [];
  constructor(private readonly verb: string) {}

  str(value: unknown, field: string, optional = false): string | undefined {
    if (value === undefined && optional) return undefined;
    if (typeof value === 'string' && (optional || value !== '')) return value;
    this.problems.push(`${field} must be a ${optional ? '' : 'non-empty '}string, got ${show(value)}`);
    return undefined;
  }

  oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T | undefined {
    if (allowed.includes(value as T)) return value as T;
    this.problems.push(`${field} ${show(value)} is not one of ${allowed.join(', ')}`);
    return undefined;
  }

  list(value: unknown, field: string): unknown[] {
    if (Array.isArray(value)) return value;
    this.problems.push(`${field} must be a list, got ${show(value)}`);
    return [];
  }

  coded(value: unknown, field: string): ProviderProblem[] {
    if (value === undefined) return [];
    return this.list(value, field).flatMap((item, i) => {
      const at = `${field}[${i}]`;
      if (!isRecord(item)) {
        this.problems.push(`${at} must be an object {code, message}`);
        return [];
      }
      const code = this.str(item['code'], `${at}.code`);
      const message = this.str(item['message'], `${at}.message`);
      const hint = this.str(item['hint'], `${at}.hint`, true);
      return code && message ? [{ code, message, ...(hint ? { hint } : {}) }] : [];
    });
  }

  done<T>(value: T): T {
    if (this.problems.length > 0) {
      throw new ExecProviderError(
        'response.invalid',
        `the command's answer to ${this.verb} is invalid: ${this.problems.join('; ')}`,
        {
          hint: 'providers/README.md ("The exec provider") lists every field of each response',
        },
      );
    }
    return value;
  }
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? 'nothing' : text.length > 60 ? `${text.slice(0, 60)}...` : text;
}

function machine(check: Checker, value: unknown, field: string, pool: string): ExecMachine | undefined {
  if (!isRecord(value)) {
    check.problems.push(`${field} must be an object`);
    return undefined;
  }
  const id = check.str(value['id'], `${field}.id`);
  const providerId = check.str(value['providerId'], `${field}.providerId`);
  const phase = check.oneOf(value['phase'], PHASES, `${field}.phase`);
  const imageId = check.str(value['imageId'], `${field}.imageId`);
  const status = check.str(value['status'], `${field}.status`, true);
  const zone = check.str(value['zone'], `${field}.zone`, true);
  const replaces = check.str(value['replaces'], `${field}.replaces`, true);
  const runId = check.str(value['runId'], `${field}.runId`, true);
  const launched = check.str(value['launchedAt'], `${field}.launchedAt`, true);
  const launchedAt = launched === undefined ? new Date(0) : new Date(launched);
  if (Number.isNaN(launchedAt.getTime()))
    check.problems.push(`${field}.launchedAt ${show(launched)} is not an ISO 8601 time`);
  const reportedDrift = check.coded(value['drift'], `${field}.drift`).map(({ code, message }) => ({ code, message }));
  const problems = check.coded(value['problems'], `${field}.problems`);
  const data = value['data'];
  if (data !== undefined && !isRecord(data)) check.problems.push(`${field}.data must be an object`);
  if (!id || !providerId || !phase || imageId === undefined) return undefined;
  return {
    id,
    providerId,
    pool,
    phase,
    status: status ?? phase,
    zone: zone ?? '',
    imageId,
    launchedAt,
    ...(replaces ? { replaces } : {}),
    ...(runId ? { runId } : {}),
    reportedDrift,
    problems,
    ...(isRecord(data) ? { data } : {}),
  };
}

/** `list` and `status`: `{"machines": [...]}`, ordered by launch time like every provider's listing. */
export function machinesOf(verb: string, response: Record<string, unknown>, pool: string): ExecMachine[] {
  const check = new Checker(verb);
  const machines = check
    .list(response['machines'], 'machines')
    .map((m, i) => machine(check, m, `machines[${i}]`, pool))
    .filter((m): m is ExecMachine => m !== undefined);
  const ids = new Set<string>();
  for (const m of machines) {
    if (ids.has(m.id)) check.problems.push(`machine ${m.id} is listed twice`);
    ids.add(m.id);
  }
  return check.done(
    machines.sort((a, b) => a.launchedAt.getTime() - b.launchedAt.getTime() || a.id.localeCompare(b.id)),
  );
}

/** `create`: `{"machine": {...}}`. */
export function createdMachineOf(response: Record<string, unknown>, pool: string): ExecMachine {
  const check = new Checker('create');
  const created = machine(check, response['machine'], 'machine', pool);
  return check.done(created!);
}

/** `resolve`: `{"imageId": "...", "template"?: {id, version}, "image"?: {name?, owner?, createdAt?}}` or `{"problems": [...]}`. */
export function resolvedOf(response: Record<string, unknown>): {
  imageId?: string;
  template?: { id: string; version: string };
  image?: ImageFacts;
  problems: ProviderProblem[];
} {
  const check = new Checker('resolve');
  const problems = check.coded(response['problems'], 'problems');
  const imageId = check.str(response['imageId'], 'imageId', problems.length > 0);
  let template: { id: string; version: string } | undefined;
  const t = response['template'];
  if (t !== undefined) {
    if (!isRecord(t)) check.problems.push('template must be an object {id, version}');
    else {
      const id = check.str(t['id'], 'template.id');
      const version = check.str(t['version'], 'template.version');
      if (id && version) template = { id, version };
    }
  }
  // What the operator reviews in the plan: optional, each field text.
  let image: ImageFacts | undefined;
  const i = response['image'];
  if (i !== undefined) {
    if (!isRecord(i)) check.problems.push('image must be an object {name?, owner?, createdAt?}');
    else {
      const facts = {
        name: check.str(i['name'], 'image.name', true),
        owner: check.str(i['owner'], 'image.owner', true),
        createdAt: check.str(i['createdAt'], 'image.createdAt', true),
      };
      image = Object.fromEntries(Object.entries(facts).filter(([, v]) => v !== undefined));
    }
  }
  return check.done({
    ...(imageId ? { imageId } : {}),
    ...(template ? { template } : {}),
    ...(image ? { image } : {}),
    problems,
  });
}

/** `targets`: `{"targets": [{machineId, state}]}`. */
export function targetsOf(response: Record<string, unknown>): ApiTarget[] {
  const check = new Checker('targets');
  const targets = check.list(response['targets'], 'targets').flatMap((t, i) => {
    if (!isRecord(t)) {
      check.problems.push(`targets[${i}] must be an object {machineId, state}`);
      return [];
    }
    const machineId = check.str(t['machineId'], `targets[${i}].machineId`);
    const state = check.oneOf(t['state'], TARGET_STATES, `targets[${i}].state`);
    return machineId && state ? [{ machineId, state }] : [];
  });
  return check.done(targets);
}
