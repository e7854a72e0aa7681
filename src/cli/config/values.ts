// The value types of settings, as zod schemas. Messages are templates: `{name}` becomes where the value came from
// (`--drain-timeout`, `KUBESWAP_DRAIN_TIMEOUT`, `drainTimeout in ./kubeswap.yaml`) and `{value}` the value given.
// A refinement's `params.code` is its problem code; other issues take the setting's own code (spec.ts).
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

export { z };

import { parseDuration } from '../../domain/duration.ts';

const fail = (ctx: z.RefinementCtx, input: unknown, code: string, message: string) =>
  ctx.addIssue({ code: 'custom', input, message, params: { code } });

export const text = () => z.string().min(1);

/** Go duration (`1h30m`, `90s`) or seconds, to milliseconds, at least `minMs` (every timeout here must be > 0). */
export function duration(minMs = 1) {
  return z.union([z.string(), z.number()]).transform((input, ctx) => {
    const ms = parseDuration(input);
    if (ms === undefined) {
      fail(ctx, input, 'input.duration', '{name} {value} is not a duration (e.g. 90s, 15m, 1h30m)');
      return z.NEVER;
    }
    if (ms < minMs) {
      const least = minMs <= 1 ? 'more than 0' : `at least ${minMs / 1000}s`;
      fail(ctx, input, 'input.duration', `{name} must be ${least}, got {value}`);
      return z.NEVER;
    }
    return ms;
  });
}

export const version = () =>
  // A pre-release (v1.38.0-rc.1, as Kubernetes tags them) is read here and refused unless --allow-prerelease.
  z.string().regex(/^v\d+\.\d+\.\d+(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?$/, {
    message: '{name} {value} is not a Kubernetes version like v1.37.2',
  });

export const existingFile = () =>
  z.string().refine((file) => existsSync(file), {
    message: '{name} {value} does not exist',
    params: { code: 'input.file-missing' },
  });

/** A PEM certificate: checked here so a wrong file is refused with the other settings, not mid-run. */
export const pemCertificateFile = () =>
  z.string().superRefine((file, ctx) => {
    if (!existsSync(file)) return fail(ctx, file, 'input.file-missing', '{name} {value} does not exist');
    let pem = '';
    try {
      pem = statSync(file).isFile() ? readFileSync(file, 'utf8') : '';
    } catch {
      // unreadable: reported below as not a certificate
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----'))
      fail(ctx, file, 'input.ca-cert', '{name} {value} is not a PEM certificate (-----BEGIN CERTIFICATE-----)');
  });

export const existingDirectory = () =>
  z.string().superRefine((dir, ctx) => {
    if (!existsSync(dir)) fail(ctx, dir, 'input.file-missing', '{name} {value} does not exist');
    else if (!statSync(dir).isDirectory()) fail(ctx, dir, 'input.not-a-directory', '{name} {value} is not a folder');
  });

/** A folder that may not exist yet (it is created), but must not be a file. */
export const directoryToCreate = () =>
  z.string().refine((dir) => !existsSync(dir) || statSync(dir).isDirectory(), {
    message: '{name} {value} is a file, not a folder',
    params: { code: 'input.not-a-directory' },
  });

/** A file written at the end of the run: its folder must exist now, or the summary would be lost after the run. */
export const fileToWrite = () =>
  z.string().superRefine((file, ctx) => {
    const parent = path.dirname(path.resolve(file));
    if (!existsSync(parent) || !statSync(parent).isDirectory())
      fail(ctx, file, 'input.parent-missing', `{name} {value}: folder ${parent} does not exist`);
    else if (existsSync(file) && statSync(file).isDirectory())
      fail(ctx, file, 'input.not-a-file', '{name} {value} is a folder, not a file');
  });

/** kubeadm's certificate key: 32 bytes, hex (kubeadm `certs certificate-key`). */
export const certificateKey = () =>
  z.string().regex(/^[0-9a-fA-F]{64}$/, {
    message: '{name} must be 64 hex characters (the key `kubeadm init phase upload-certs` prints)',
  });

/** Comma-separated or a list, each an http(s) URL without a path. */
export const endpoints = () =>
  z
    .union([z.string(), z.array(z.string())])
    .transform((value) =>
      (Array.isArray(value) ? value : [value])
        .flatMap((v) => v.split(','))
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z.string().regex(/^https?:\/\/[^/]+$/, {
          message: 'etcd endpoint {value} ({name}) is not a URL like https://10.0.0.1:2379',
        }),
      ),
    );
