// Fixture files as kubeadm writes them (ConfigMap data values), read relative to this folder.
import { readFileSync } from 'node:fs';

export function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
}
