// The CLI's answer to `observatory validate --format json`, and the diagnostics the editor shows for it.
// No `vscode` import: unit-tested in plain Node.

export type Severity = "error" | "warning" | "information" | "hint";

/** One problem as the CLI reports it: 1-based line and column (in characters), the dotted path. */
export interface Problem {
  file: string;
  line: number;
  column: number;
  path: string;
  message: string;
  severity: Severity;
}

export interface Report {
  file: string;
  valid: boolean;
  problems: Problem[];
}

/** A diagnostic before it becomes a `vscode.Diagnostic`: 0-based, in UTF-16 code units as VS Code counts. */
export interface DiagnosticData {
  startLine: number;
  startCharacter: number;
  endLine: number;
  endCharacter: number;
  message: string;
  severity: Severity;
  code: string;
}

export class CliOutputError extends Error {}

const SEVERITIES: readonly string[] = ["error", "warning", "information", "hint"];

/** The report in `stdout`, or CliOutputError saying what is wrong with it (never a partial report). */
export function parseReport(stdout: string): Report {
  let data: unknown;
  try {
    data = JSON.parse(stdout);
  } catch {
    throw new CliOutputError(`the CLI did not answer JSON: ${stdout.slice(0, 200) || "(nothing)"}`);
  }
  const report = data as Partial<Report>;
  if (typeof report !== "object" || report === null || typeof report.valid !== "boolean" || !Array.isArray(report.problems)) {
    throw new CliOutputError("the CLI's JSON has no `valid` and `problems`");
  }
  report.problems.forEach((p, i) => checkProblem(p, i));
  return { file: String(report.file ?? ""), valid: report.valid, problems: report.problems };
}

function checkProblem(p: Partial<Problem>, index: number): void {
  const where = `problems[${index}]`;
  if (!Number.isInteger(p.line) || !Number.isInteger(p.column) || (p.line as number) < 1 || (p.column as number) < 1) {
    throw new CliOutputError(`${where}: line and column must be whole numbers from 1`);
  }
  if (typeof p.message !== "string" || typeof p.path !== "string") {
    throw new CliOutputError(`${where}: message and path must be strings`);
  }
  if (!SEVERITIES.includes(String(p.severity))) {
    throw new CliOutputError(`${where}: unknown severity ${JSON.stringify(p.severity)}`);
  }
}

/** Every problem as a diagnostic on `lines` (the document's text, one entry per line). */
export function toDiagnostics(report: Report, lines: readonly string[]): DiagnosticData[] {
  return report.problems.map((p) => {
    const line = Math.min(p.line - 1, Math.max(lines.length - 1, 0));
    const text = lines[line] ?? "";
    const [start, end] = tokenRange(text, utf16Offset(text, p.column - 1));
    return {
      startLine: line,
      startCharacter: start,
      endLine: line,
      endCharacter: end,
      message: p.path ? `${p.path}: ${p.message}` : p.message,
      severity: p.severity,
      code: p.path,
    };
  });
}

/** The UTF-16 offset of the `characters`-th character of `text` (Python counts code points, VS Code UTF-16). */
export function utf16Offset(text: string, characters: number): number {
  return Array.from(text).slice(0, characters).join("").length;
}

/**
 * The token that starts at `start`, so the squiggle covers the key or value the problem is about: a
 * quoted string to its closing quote, a key to its colon, a plain value to the end of the line or
 * its comment. At least one character when the line has any.
 */
export function tokenRange(text: string, start: number): [number, number] {
  const from = Math.min(start, text.length);
  let end: number;
  const quote = text[from];
  if (quote === '"' || quote === "'") {
    const close = text.indexOf(quote, from + 1);
    end = close === -1 ? text.length : close + 1;
  } else {
    // A key ends at ": " or a final ":"; a comment starts at " #" (YAML needs the space before both).
    const rest = text.slice(from);
    const stop = rest.search(/:(\s|$)|\s#/);
    end = from + (stop === -1 ? rest.length : stop);
    while (end > from && /\s/.test(text[end - 1])) end--;
  }
  if (end <= from) {
    return text.length === 0 ? [0, 0] : from < text.length ? [from, from + 1] : [text.length - 1, text.length];
  }
  return [from, end];
}
