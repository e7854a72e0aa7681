// npm run sandbox -- up|status|down|fault --state-dir DIR ...
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { LAUNCH_FAULTS, RUNNING_FAULTS } from './faults.ts';
import { attachSandbox, downSandbox, upSandbox } from './index.ts';
import { isAlive, readPidFiles } from './processes.ts';
import { paths } from './state.ts';

const stateDirOption = { type: 'string', describe: 'the sandbox state dir', demandOption: true } as const;

await yargs(hideBin(process.argv))
  .scriptName('sandbox')
  .command(
    'up',
    'build or locate the components, bring a sandbox cluster up, return once healthy',
    (y) =>
      y
        .option('control-planes', { type: 'number', default: 3 })
        .option('workers', { type: 'number', default: 0 })
        .option('worker-pools', {
          type: 'string',
          describe: 'worker pools as name=size,name=size (each worker tagged kubeswap-sandbox/pool=<name>)',
        })
        .option('from', { type: 'string', describe: 'FROM Kubernetes minor, e.g. 1.36' })
        .option('to', { type: 'string', describe: 'TO Kubernetes minor, e.g. 1.37' })
        .option('boot-delay', { type: 'number', default: 2, describe: 'seconds a new VM takes to boot' })
        .option('deregistration-delay', { type: 'number', default: 2 })
        .option('kubeadm-api', {
          type: 'string',
          choices: ['v1beta3'],
          describe: 'store kubeadm-config as v1beta3, as kubeadm <= 1.30 did',
        })
        .option('provider', {
          choices: ['aws-ec2', 'aws-asg', 'cluster-api'] as const,
          default: 'aws-ec2' as const,
          describe:
            "aws-asg: the control-plane instances are an Auto Scaling group's; cluster-api: real Cluster API controllers, the control plane adopted as Machines",
        })
        .option('capi-control-plane', {
          choices: ['machines', 'kubeadm-control-plane'] as const,
          default: 'machines' as const,
          describe: 'with --provider cluster-api: kubeadm-control-plane makes a KubeadmControlPlane own the Machines',
        })
        .option('capi-workers', {
          type: 'number',
          default: 0,
          describe:
            'with --provider cluster-api: a worker MachineDeployment of this many Machines (Cluster API creates them)',
        })
        .option('state-dir', { type: 'string', describe: 'default: a new temp dir' }),
    async (argv) => {
      const started = Date.now();
      const stateDir = resolve(argv['state-dir'] ?? mkdtempSync(join(tmpdir(), 'kubeswap-sandbox-')));
      const interrupt = () => {
        console.error('interrupted: tearing the sandbox down');
        void downSandbox(stateDir).then(() => process.exit(130));
      };
      process.on('SIGINT', interrupt);
      const sb = await upSandbox({
        controlPlanes: argv['control-planes'],
        workers: argv.workers,
        workerPools: argv['worker-pools']
          ? Object.fromEntries(
              String(argv['worker-pools'])
                .split(',')
                .map((p) => p.split('='))
                .map(([name, size]) => [name!, Number(size)]),
            )
          : undefined,
        from: argv.from,
        to: argv.to,
        bootDelaySeconds: argv['boot-delay'],
        deregistrationDelaySeconds: argv['deregistration-delay'],
        kubeadmApi: argv['kubeadm-api'] as 'v1beta3' | undefined,
        provider: argv.provider,
        clusterApiControlPlane: argv['capi-control-plane'],
        clusterApiWorkers: argv['capi-workers'],
        stateDir,
        ownerPid: process.pid,
        ownerOnlyUntilReady: true,
        log: (line) => console.error(`sandbox: ${line}`),
      });
      process.off('SIGINT', interrupt);
      console.log(`sandbox up in ${Math.round((Date.now() - started) / 1000)} s: ${sb.stateDir}`);
      console.log(`  API (load balancer)  ${sb.apiServer}   versions ${sb.versions.from} -> ${sb.versions.to}`);
      for (const m of sb.machines) console.log(`  ${m.node}  ${m.instanceId}  ${m.version}  ${m.apiServer}`);
      console.log(`  AWS (moto)           ${sb.aws.endpoint}`);
      console.log(`  source ${paths(sb.stateDir).env}   # KUBECONFIG, AWS_*, ETCDCTL_*`);
      console.log(`  kubeswap config      ${paths(sb.stateDir).kubeswapConfig}`);
    },
  )
  .command(
    'status',
    'show machines, processes and faults',
    (y) => y.option('state-dir', stateDirOption),
    async (argv) => {
      const dir = paths(argv['state-dir']);
      if (!existsSync(dir.description)) {
        console.log(`no sandbox in ${argv['state-dir']}`);
        process.exitCode = 1;
        return;
      }
      const sb = attachSandbox(argv['state-dir']);
      const pids = readPidFiles(dir.pids);
      const status = await sb.status().catch((err) => {
        console.log(`daemon not answering: ${(err as Error).message}`);
        return undefined;
      });
      console.log(`sandbox ${sb.stateDir}  API ${sb.apiServer}  AWS ${sb.aws.endpoint}`);
      for (const m of status?.machines ?? []) {
        console.log(`  ${m.node} ${m.instanceId} ${m.version} ${m.state}${m.detail ? ` (${m.detail})` : ''}`);
      }
      console.log(`  load balancer serving: ${status?.loadBalancer.join(', ') || '-'}`);
      const alive = Object.entries(pids).filter(([, pid]) => isAlive(pid));
      console.log(`  processes: ${alive.map(([name, pid]) => `${name}(${pid})`).join(' ')}`);
      process.exitCode = status ? 0 : 1;
    },
  )
  .command(
    'down',
    'stop everything the sandbox started and remove its state dir',
    (y) => y.option('state-dir', stateDirOption),
    async (argv) => {
      await downSandbox(argv['state-dir']);
      console.log(`sandbox ${argv['state-dir']} is down`);
    },
  )
  .command(
    'fault <kind>',
    'inject a fault into a machine or the next launch',
    (y) =>
      y
        .positional('kind', { choices: [...LAUNCH_FAULTS, ...RUNNING_FAULTS], demandOption: true })
        .option('state-dir', stateDirOption)
        .option('instance', { type: 'string', describe: 'instance id' })
        .option('node', { type: 'string', describe: 'node name of a running machine' })
        .option('next', { type: 'boolean', describe: 'arm a launch fault for the next launched instance' })
        .option('seconds', { type: 'number', describe: 'delay for slow-etcd-catchup and slow-boot' }),
    async (argv) => {
      const sb = attachSandbox(argv['state-dir']);
      const applied = await sb.fault({
        kind: argv.kind,
        instanceId: argv.instance,
        node: argv.node,
        next: argv.next,
        seconds: argv.seconds,
      });
      console.log(applied);
    },
  )
  .demandCommand(1)
  .strict()
  .fail((msg, err) => {
    console.error(err ? err.message : msg);
    process.exit(1);
  })
  .parse();
