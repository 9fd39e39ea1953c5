// The committed schema in the YAML language server that the Red Hat YAML extension runs, associated the
// way that extension associates a `yamlValidation` contribution: what completion, hover and schema
// validation in observatory.yaml will be.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { TextDocument } from "vscode-languageserver-textdocument";
import { getLanguageService, LanguageService } from "yaml-language-server";

const ROOT = path.resolve(__dirname, "../../..");
const MANIFEST = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
const [CONTRIBUTION] = MANIFEST.contributes.yamlValidation;
const SCHEMA_FILE = path.join(ROOT, CONTRIBUTION.url);
const SCHEMA_URI = `file://${SCHEMA_FILE}`;

function service(): LanguageService {
  const ls = getLanguageService({
    schemaRequestService: async (uri: string) => {
      assert.equal(uri, SCHEMA_URI);
      return fs.readFileSync(SCHEMA_FILE, "utf8");
    },
    workspaceContext: { resolveRelativePath: (relative: string) => relative },
  });
  // The YAML extension turns a fileMatch without a leading / or scheme into "/" + fileMatch.
  const fileMatch = [CONTRIBUTION.fileMatch].flat().map((m: string) => (/^(\w+:\/\/|\/|!)/.test(m) ? m : `/${m}`));
  ls.configure({ validate: true, hover: true, completion: true, schemas: [{ uri: SCHEMA_URI, fileMatch }] });
  return ls;
}

// The language server caches parsed documents by URI and version, across services: a new version each time.
let version = 0;
function doc(text: string, name = "observatory.yaml"): TextDocument {
  return TextDocument.create(`file:///work/project/${name}`, "yaml", ++version, text);
}

test("completion at the top of observatory.yaml offers every section", async () => {
  const list = await service().doComplete(doc("version: v1\n"), { line: 1, character: 0 }, false);
  const labels = list.items.map((i) => i.label);
  for (const section of ["models", "sampling", "retention", "slos", "budgets", "alerting", "pii", "dashboards", "storage"]) {
    assert.ok(labels.includes(section), `${section} missing from ${labels.join(", ")}`);
  }
  assert.ok(!labels.includes("version"), "version is already there");
});

test("completion of an enum field offers its values", async () => {
  const list = await service().doComplete(doc("version: v1\nstorage:\n  engine: \n"), { line: 2, character: 10 }, false);
  // null too: the model takes null as "the built-in default", as when the key is left out.
  assert.deepEqual(list.items.map((i) => i.label).sort(), ["null", "postgres", "timescaledb"]);
});

test("hover on a section shows its description from the schema", async () => {
  const hover = await service().doHover(doc("version: v1\nsampling:\n  baseline_ratio: 0.1\n"), { line: 1, character: 3 });
  const text = JSON.stringify(hover?.contents ?? "");
  assert.match(text, /Tail sampling of traces/);
});

test("the schema flags an unknown key and a wrong type while typing; a valid spec has no problems", async () => {
  const ls = service();
  const problems = await ls.doValidation(doc("version: v1\nsampling:\n  baseline_ratio: lots\n  keep_erors: true\n"), false);
  const messages = problems.map((p) => `${p.range.start.line}: ${p.message}`);
  assert.ok(messages.some((m) => m.startsWith("2: ") && /number/i.test(m)), messages.join("\n"));
  assert.ok(messages.some((m) => m.startsWith("3: ") && /keep_erors/.test(m)), messages.join("\n"));
  const repository = fs.readFileSync(path.resolve(ROOT, "../../observatory.yaml"), "utf8");
  assert.deepEqual(await ls.doValidation(doc(repository), false), []);
});

test("other YAML files get no observatory schema", async () => {
  const list = await service().doComplete(doc("version: v1\n", "docker-compose.yml"), { line: 1, character: 0 }, false);
  assert.ok(!list.items.some((i) => i.label === "sampling"));
});
