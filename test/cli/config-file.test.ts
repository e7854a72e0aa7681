import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { configJsonSchema } from '../../src/cli/config/schema.ts';
import { readConfigFile, resolveSettings } from '../../src/cli/config/settings.ts';

describe('config file', () => {
  let dir: string;
  const write = (text: string) => {
    const file = path.join(dir, 'kubeswap.yaml');
    writeFileSync(file, text);
    return file;
  };
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'kubeswap-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a misspelt key, naming it and the nearest known one', () => {
    const { problems } = readConfigFile(write('drainTimeOut: 5m\nmaxSurge: 0\n'));
    assert.deepEqual(
      problems.map((p) => [p.code, p.message]),
      [['config.unknown-key', `unknown key drainTimeOut in ${dir}/kubeswap.yaml (did you mean drainTimeout?)`]],
    );
  });

  it('refuses unknown keys inside the etcd and provider sections, all together', () => {
    const { problems } = readConfigFile(
      write('etcd: { endpoint: https://a:2379 }\nprovider: { name: aws-ec2, regoin: eu-west-1 }\nbogus: 1\n'),
    );
    const messages = problems.map((p) => p.message).join('\n');
    assert.match(messages, /unknown key bogus in/);
    assert.match(messages, /unknown key etcd\.endpoint in .* \(did you mean etcd\.endpoints\?\)/);
    assert.match(messages, /unknown key provider\.regoin in .* \(did you mean provider\.region\?\)/);
    assert.equal(problems.length, 3);
  });

  it('checks the exec provider section with the other settings: its keys, its command, its capabilities', () => {
    const file = write('to: v1.37.2\nprovider: { name: exec, comand: [/opt/machines], launchTemplate: lt-1 }\n');
    const messages = readConfigFile(file)
      .problems.map((p) => p.message)
      .join('\n');
    assert.match(messages, /unknown key provider\.comand in .* \(did you mean provider\.command\?\)/);
    assert.match(messages, /unknown key provider\.launchTemplate/, 'aws-ec2 keys are not exec keys');
    const bad = readConfigFile(write('to: v1.37.2\nprovider: { name: exec, capabilities: { surge: maybe } }\n'));
    const { problems } = resolveSettings('apply', [bad.input]);
    assert.deepEqual(problems.map((p) => p.code).sort(), ['input.exec-command', 'input.execCapabilities']);
  });

  it('refuses `yes` in a file: consent is given per run', () => {
    const { problems } = readConfigFile(write('yes: true\n'));
    assert.equal(problems[0]?.code, 'config.forbidden-key');
    assert.match(problems[0]!.message, /--yes or set KUBESWAP_YES=true/);
  });

  it('refuses a file that is not a mapping, or a section that is not one', () => {
    assert.equal(readConfigFile(write('- a\n- b\n')).problems[0]?.code, 'config.invalid');
    assert.match(readConfigFile(write('etcd: 5\n')).problems[0]!.message, /etcd in .* must be a mapping/);
  });

  it("reads paths relative to the file's folder; absolute paths and other values unchanged", () => {
    mkdirSync(path.join(dir, 'pki/etcd'), { recursive: true });
    const { input, problems } = readConfigFile(
      write(
        'kubeconfig: admin.conf\nsnapshotDir: snaps\netcd: { ca: pki/etcd/ca.crt, cert: /abs/client.crt }\ncontext: admin.conf\n',
      ),
    );
    assert.deepEqual(problems, []);
    assert.equal(input['kubeconfig'], path.join(dir, 'admin.conf'));
    assert.equal(input['snapshotDir'], path.join(dir, 'snaps'));
    assert.equal(input['etcdCa'], path.join(dir, 'pki/etcd/ca.crt'));
    assert.equal(input['etcdCert'], '/abs/client.crt');
    assert.equal(input['context'], 'admin.conf');
  });

  it('reads ~/ in a path as the home folder, as a shell would', () => {
    const { input } = readConfigFile(write('kubeconfig: ~/.kube/management\nsnapshotDir: snaps/~x\n'));
    assert.equal(input['kubeconfig'], path.join(homedir(), '.kube/management'));
    assert.equal(input['snapshotDir'], path.join(dir, 'snaps/~x'));
  });

  it('names a bad value by its key in the file, and the file', () => {
    const file = write('to: v1.37.2\nmaxSurge: 2\nprovider: { launchTemplate: lt-1 }\n');
    const { problems } = resolveSettings('plan', [readConfigFile(file).input]);
    assert.deepEqual(
      problems.map((p) => p.message),
      [`maxSurge must be 0 or 1, got 2 (in ${file})`],
    );
  });

  it('publishes a JSON Schema that refuses unknown keys and carries the defaults', () => {
    const schema = configJsonSchema() as any;
    assert.equal(schema.additionalProperties, false);
    assert.equal(schema.properties.drainTimeout.default, '10m');
    assert.equal(schema.properties.yes, undefined);
    assert.equal(schema.properties.etcd.additionalProperties, false);
    const variants = schema.properties.provider.anyOf as any[];
    const awsEc2 = variants.find((v) => v.properties.name.const === 'aws-ec2');
    const exec = variants.find((v) => v.properties.name.const === 'exec');
    assert.ok(awsEc2.properties.launchTemplate);
    assert.deepEqual(awsEc2.properties.userData.enum, ['launch-template', 'render']);
    assert.ok(exec.properties.command && exec.properties.images && !exec.properties.launchTemplate);
  });
});

describe('the shipped JSON Schema file', () => {
  it('matches the schema (regenerate with `npm run schema`)', () => {
    const shipped = JSON.parse(
      readFileSync(new URL('../../schema/kubeswap-config.schema.json', import.meta.url), 'utf8'),
    );
    assert.deepEqual(shipped, configJsonSchema());
  });
});
