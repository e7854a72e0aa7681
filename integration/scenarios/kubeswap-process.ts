// Runs the kubeswap CLI from source as a child process, exactly as a person would run it, for scenarios.
import { main } from '../../src/cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
