// A tiny user command for the exec provider's tests: a real Node script in a temp dir, run as a child
// process, keeping its machines in a JSON file. FAKE_* variables make it misbehave on purpose.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = String.raw`
const fs = require('node:fs');
const verb = process.argv[process.argv.length - 1];
const stateFile = process.env.FAKE_STATE;
const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
state.calls.push({ verb, input });
const save = () => fs.writeFileSync(stateFile, JSON.stringify(state));
const reply = (body) => { save(); process.stdout.write(JSON.stringify(body)); };
const mode = process.env.FAKE_MODE || '';
if (mode === 'fail') { save(); process.stderr.write('  terraform: no credentials\n\n'); process.exit(3); }
if (mode === 'echo-stdin') { save(); process.stderr.write('got ' + JSON.stringify(input)); process.exit(1); }
if (mode === 'hang') { save(); setTimeout(() => {}, 60000); return; }
if (mode === 'not-json') { save(); console.log('created it!'); return; }
if (mode === 'no-capacity') {
  save();
  process.stdout.write(JSON.stringify({ error: { code: 'capacity.insufficient', message: 'no m5.large in eu-west-1a', hint: 'try another type' } }));
  process.exit(2);
}
const live = () => state.machines.filter((m) => m.phase !== 'gone');
switch (verb) {
  case 'list':
    reply({ machines: mode === 'bad-machine' ? [{ id: 'vm-1', providerId: 'p', phase: 'up', imageId: 5 }] : live() });
    break;
  case 'status':
    reply({ machines: state.machines.filter((m) => input.machineIds.includes(m.id)) });
    // Deletion takes two looks, like a cloud's shutting-down.
    for (const m of state.machines) if (m.phase === 'deleting') m.phase = m.seen ? 'gone' : ((m.seen = true), 'deleting');
    save();
    break;
  case 'create': {
    const found = live().find((m) => m.token === input.token);
    if (found) { reply({ machine: found }); break; }
    const n = state.machines.length + 1;
    const machine = { id: 'vm-' + n, providerId: 'fake://' + input.replaces.zone + '/vm-' + n, phase: 'provisioning',
      imageId: input.desired.imageId, zone: input.replaces.zone, launchedAt: new Date(Date.UTC(2026, 0, n)).toISOString(),
      replaces: input.replaces.id, runId: input.runId, token: input.token, data: { subnet: 'subnet-' + n } };
    state.machines.push(machine);
    reply({ machine });
    break;
  }
  case 'delete':
    for (const m of state.machines) if (m.id === input.machineId && m.phase !== 'gone') m.phase = 'deleting';
    reply({});
    break;
  case 'resolve':
    if (input.version === 'v9.9.9') reply({ problems: [{ code: 'image.not-found', message: 'no image for v9.9.9' }] });
    else if (input.version === 'v1.37.3')
      reply({ imageId: 'img-named', image: { name: 'cp-1.37.3', owner: 'build', createdAt: '2026-05-01T00:00:00Z' } });
    else reply({ imageId: input.imageId || 'img-' + input.version, template: { id: 'tpl', version: '7' } });
    break;
  case 'targets':
    reply({ targets: Object.entries(state.targets).map(([machineId, s]) => ({ machineId, state: s })) });
    for (const [id, s] of Object.entries(state.targets)) if (s === 'draining') state.targets[id] = 'absent';
    save();
    break;
  case 'register':
    state.targets[input.machineId] = 'registering';
    reply({});
    break;
  case 'deregister':
    state.targets[input.machineId] = 'draining';
    reply({});
    break;
  default:
    save();
    process.stderr.write('unknown verb ' + verb);
    process.exit(64);
}
`;

export interface FakeMachine {
  id: string;
  providerId: string;
  phase: string;
  imageId: string;
  zone?: string;
  launchedAt?: string;
  drift?: { code: string; message: string }[];
  problems?: { code: string; message: string; hint?: string }[];
  token?: string;
}

export interface FakeState {
  machines: FakeMachine[];
  targets: Record<string, string>;
  calls: { verb: string; input: Record<string, unknown> }[];
}

/** The temp dirs of this process's fake commands, removed when the test process exits. */
const dirs: string[] = [];
process.on('exit', () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Writes the script and its state into a fresh temp dir. */
export function fakeCommand(initial: Partial<FakeState> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kubeswap-exec-'));
  dirs.push(dir);
  const script = join(dir, 'machines.cjs');
  const stateFile = join(dir, 'state.json');
  writeFileSync(script, SCRIPT);
  writeFileSync(stateFile, JSON.stringify({ machines: [], targets: {}, calls: [], ...initial }));
  return {
    command: [process.execPath, script],
    env: { FAKE_STATE: stateFile },
    state: (): FakeState => JSON.parse(readFileSync(stateFile, 'utf8')),
    verbs: (): string[] => (JSON.parse(readFileSync(stateFile, 'utf8')) as FakeState).calls.map((c) => c.verb),
  };
}
