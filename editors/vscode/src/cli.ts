// Where the `observatory` command is, and whether it is new enough. No `vscode` import.

import * as path from "node:path";

/** The first version with `validate --format json`, `panels` and `show --list`. */
export const MIN_CLI_VERSION = "0.2.0";

export interface LocateOptions {
  /** The `observatory.cliPath` setting; empty for the default search. */
  configured: string;
  /** The folder of the spec being validated. */
  specDir: string;
  workspaceRoots: readonly string[];
  platform: NodeJS.Platform;
  home: string;
  exists: (file: string) => boolean;
}

export interface Located {
  command: string;
  /** How it was found, for messages: "setting", "venv" or "PATH". */
  how: "setting" | "venv" | "PATH";
  /** Every place looked at, in order, for the "not found" message. */
  searched: string[];
}

function venvCli(dir: string, platform: NodeJS.Platform): string {
  const p = platform === "win32" ? path.win32 : path.posix;
  return platform === "win32" ? p.join(dir, ".venv", "Scripts", "observatory.exe") : p.join(dir, ".venv", "bin", "observatory");
}

/**
 * The CLI to run: the setting if given (`~` and paths relative to the first workspace folder
 * resolved); else the `.venv` of the spec's folder or the nearest folder above it (where `make
 * install` puts it), then of each workspace folder; else `observatory` on the PATH.
 */
export function locateCli(o: LocateOptions): Located {
  const p = o.platform === "win32" ? path.win32 : path.posix;
  const setting = o.configured.trim();
  if (setting) {
    let command = setting.startsWith("~") ? p.join(o.home, setting.slice(1)) : setting;
    if (!p.isAbsolute(command) && command.includes(p.sep)) {
      command = p.resolve(o.workspaceRoots[0] ?? o.specDir, command);
    }
    return { command, how: "setting", searched: [command] };
  }
  const searched: string[] = [];
  const dirs: string[] = [];
  for (let dir = o.specDir; ; dir = p.dirname(dir)) {
    dirs.push(dir);
    if (p.dirname(dir) === dir) break;
  }
  dirs.push(...o.workspaceRoots);
  for (const dir of dirs) {
    const candidate = venvCli(dir, o.platform);
    if (searched.includes(candidate)) continue;
    searched.push(candidate);
    if (o.exists(candidate)) return { command: candidate, how: "venv", searched };
  }
  searched.push("observatory on the PATH");
  return { command: "observatory", how: "PATH", searched };
}

/** [major, minor, patch] from `observatory --version` output ("observatory 0.2.0"), or undefined. */
export function parseVersion(stdout: string): [number, number, number] | undefined {
  const m = /^observatory (\d+)\.(\d+)\.(\d+)\b/m.exec(stdout.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}

export type VersionCheck = { ok: true; version: string } | { ok: false; message: string };

/** Whether the CLI that printed `stdout` for `--version` is at least MIN_CLI_VERSION. */
export function checkVersion(stdout: string, command: string): VersionCheck {
  const version = parseVersion(stdout);
  if (!version) {
    return { ok: false, message: `${command} --version did not print "observatory X.Y.Z" (got ${JSON.stringify(stdout.trim().slice(0, 80))}); is it the LLM Observatory CLI?` };
  }
  const minimum = parseVersion(`observatory ${MIN_CLI_VERSION}`) as [number, number, number];
  if (compareVersions(version, minimum) < 0) {
    return { ok: false, message: `${command} is observatory ${version.join(".")}; this extension needs ${MIN_CLI_VERSION} or newer (validate --format json). Update it: \`make install\` in the repository, or set observatory.cliPath.` };
  }
  return { ok: true, version: version.join(".") };
}
