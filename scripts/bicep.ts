#!/usr/bin/env node
/**
 * The official Bicep CLI, restored from NuGet with the .NET SDK's ordinary client
 * (`dotnet restore tools/bicep`, a tools project that is never built) into tools/bicep/packages/
 * (git-ignored). The first call restores it; later calls find it on disk.
 *
 *   npm run bicep -- path                 prints the executable's path (restoring it if needed)
 *   npm run bicep -- build infra/main.bicep --stdout
 *   npm run bicep -- lint --pattern 'infra/**\/*.bicep'
 *
 * The tests (test/infra/arm.ts) use ensureBicep(): without a .NET SDK they are skipped with the
 * reason, unless CI=true, where they fail.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = findRoot(__dirname);
const PROJECT = path.join(ROOT, 'tools', 'bicep', 'bicep.csproj');
const PACKAGES = path.join(ROOT, 'tools', 'bicep', 'packages');

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'tools', 'bicep', 'bicep.csproj'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no tools/bicep/bicep.csproj above ${start}`);
    dir = parent;
  }
}

/** The Bicep CLI version pinned in tools/bicep/bicep.csproj. */
export function bicepVersion(): string {
  const match = /<BicepVersion>([^<]+)<\/BicepVersion>/.exec(fs.readFileSync(PROJECT, 'utf8'));
  if (!match) throw new Error(`${PROJECT} has no <BicepVersion>`);
  return match[1]!.trim();
}

/** The NuGet runtime suffix of the CLI package for this machine (Azure.Bicep.CommandLine.<runtime>). */
export function bicepRuntime(platform = process.platform, arch = process.arch): string {
  const os = platform === 'linux' ? 'linux' : platform === 'darwin' ? 'osx' : platform === 'win32' ? 'win' : undefined;
  const cpu = arch === 'x64' ? 'x64' : arch === 'arm64' ? 'arm64' : undefined;
  if (!os || !cpu) throw new Error(`no Bicep CLI package for ${platform}/${arch} (NuGet serves linux, osx and win on x64 and arm64)`);
  return `${os}-${cpu}`;
}

/** Where the executable lands after the restore (NuGet lower-cases package folder names). */
export function bicepPath(): string {
  const runtime = bicepRuntime();
  const exe = runtime.startsWith('win') ? 'bicep.exe' : 'bicep';
  return path.join(PACKAGES, `azure.bicep.commandline.${runtime}`, bicepVersion(), 'tools', exe);
}

export type BicepAvailability = { path: string; version: string } | { unavailable: string };

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The Bicep CLI's path, restoring it first when it is not on disk. Parallel callers (test files
 * run in parallel processes) wait for one restore through a lock directory, and use the CLI only
 * once its `.ready` marker says the restore finished.
 * Returns `{ unavailable: reason }` when there is no .NET SDK or the restore fails.
 */
export function ensureBicep(): BicepAvailability {
  const exe = bicepPath();
  const version = bicepVersion();
  // Ready once the restore finished and made it executable: the file itself appears while NuGet
  // is still writing it (a parallel test file that ran it then met ETXTBSY).
  const ready = `${exe}.ready`;
  if (fs.existsSync(ready)) return { path: exe, version };
  const env = { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1', DOTNET_SKIP_FIRST_TIME_EXPERIENCE: '1' };
  const sdk = spawnSync('dotnet', ['--version'], { encoding: 'utf8', env });
  if (sdk.error || sdk.status !== 0) {
    return { unavailable: `the Bicep CLI comes from NuGet through the .NET SDK (dotnet restore tools/bicep), and no working \`dotnet\` is on PATH (${sdk.error?.message ?? sdk.stderr.trim()}). Install the .NET SDK 8 or later.` };
  }
  const major = /^(\d+)\./.exec(sdk.stdout.trim())?.[1];
  const lock = path.join(PACKAGES, '.restore-lock');
  fs.mkdirSync(PACKAGES, { recursive: true });
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (fs.existsSync(ready)) return { path: exe, version };
      // A lock older than the deadline is left over from a killed restore.
      if (Date.now() - fs.statSync(lock).mtimeMs > 10 * 60_000) fs.rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) return { unavailable: `another restore of the Bicep CLI held ${lock} for 10 minutes` };
      sleep(500);
    }
  }
  try {
    if (fs.existsSync(ready)) return { path: exe, version };
    if (fs.existsSync(exe)) {
      // Restored before the marker existed (or by hand): finish what the restore does.
      if (process.platform !== 'win32') fs.chmodSync(exe, 0o755);
      fs.writeFileSync(ready, `${version}\n`);
      return { path: exe, version };
    }
    const args = ['restore', PROJECT, `-p:BicepRuntime=${bicepRuntime()}`, ...(major ? [`-p:TargetFramework=net${major}.0`] : [])];
    const restore = spawnSync('dotnet', args, { encoding: 'utf8', env });
    if (restore.status !== 0 || !fs.existsSync(exe)) {
      const output = `${restore.stdout}\n${restore.stderr}`.trim().split('\n').slice(-15).join('\n');
      return { unavailable: `\`dotnet ${args.join(' ')}\` did not produce ${exe} (exit ${restore.status}):\n${output}` };
    }
    if (process.platform !== 'win32') fs.chmodSync(exe, 0o755);
    fs.writeFileSync(ready, `${version}\n`);
    return { path: exe, version };
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

function main(argv: string[]): number {
  const found = ensureBicep();
  if ('unavailable' in found) {
    console.error(`bicep: ${found.unavailable}`);
    return 1;
  }
  if (argv.length === 0 || argv[0] === 'path') {
    console.log(found.path);
    return 0;
  }
  const run = spawnSync(found.path, argv, { stdio: 'inherit' });
  return run.status ?? 1;
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
