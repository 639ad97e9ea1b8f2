// No function in src/ or ui/ is longer than 100 lines (issue 22): a long function mixes ideas, so it
// is split by idea. Measured with the TypeScript compiler's own parser: every function declaration,
// method, constructor, accessor, function expression and arrow function, from its first line to its
// last (a nested function counts inside its parent too). The only exception is a declarative table
// (FFI type definitions and the like), marked so in the source by a comment just above it that
// starts with `function-length: declarative table`.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";
import { ROOT } from "../support/models.js";

export const MAX_LINES = 100;
const MARK = /function-length:\s*declarative table/;

export interface FunctionLength {
  file: string;
  name: string;
  line: number;
  lines: number;
  /** Marked as a declarative table in the source. */
  table: boolean;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== "node_modules" && e.name !== "dist") out.push(...sourceFiles(p));
    } else if (/\.tsx?$/.test(e.name) && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** A readable name: the declaration's own, else what it is assigned to or passed as. */
function nameOf(node: ts.Node, sf: ts.SourceFile): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name && !ts.isComputedPropertyName(named.name)) return named.name.getText(sf);
  if (ts.isConstructorDeclaration(node)) return `${nameOf(node.parent, sf)}.constructor`;
  const p = node.parent;
  if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) return p.name.getText(sf);
  if (ts.isCallExpression(p)) return `(callback of ${p.expression.getText(sf).replace(/\s+/g, " ").slice(0, 40)})`;
  return "(anonymous)";
}

/** The comments just above the function, or above the statement or property that holds it. */
function marked(node: ts.Node, sf: ts.SourceFile): boolean {
  let holder: ts.Node = node;
  while (
    holder.parent &&
    (ts.isVariableDeclaration(holder.parent) ||
      ts.isVariableDeclarationList(holder.parent) ||
      ts.isVariableStatement(holder.parent) ||
      ts.isPropertyAssignment(holder.parent) ||
      ts.isPropertyDeclaration(holder.parent) ||
      ts.isExportAssignment(holder.parent))
  ) {
    holder = holder.parent;
  }
  const text = sf.getFullText();
  const ranges = ts.getLeadingCommentRanges(text, holder.getFullStart()) ?? [];
  return ranges.some((r) => MARK.test(text.slice(r.pos, r.end)));
}

/** Every function in a file with its length in lines. */
export function functionLengths(path: string): FunctionLength[] {
  const sf = ts.createSourceFile(
    path,
    readFileSync(path, "utf8"),
    ts.ScriptTarget.Latest,
    true,
    path.endsWith("x") ? ts.ScriptKind.TSX : ts.ScriptKind.TS,
  );
  const out: FunctionLength[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      out.push({ file: relative(ROOT, path), name: nameOf(node, sf), line: start + 1, lines: end - start + 1, table: marked(node, sf) });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** Every function in src/ and ui/, longest first. */
export function allFunctionLengths(): FunctionLength[] {
  return ["src", "ui"]
    .flatMap((d) => sourceFiles(join(ROOT, d)))
    .flatMap(functionLengths)
    .sort((a, b) => b.lines - a.lines);
}

const describeFn = (f: FunctionLength) => `${f.file}:${f.line} ${f.name} (${f.lines} lines)`;

describe("function length", () => {
  const all = allFunctionLengths();

  it("finds the functions it measures (the parser sees src/ and ui/)", () => {
    assert.ok(all.length > 500, `only ${all.length} functions found`);
    assert.ok(
      all.some((f) => f.file.startsWith("ui/") && f.file.endsWith(".tsx")),
      "no function found in ui/*.tsx",
    );
    // the FFI type table is a marked declarative table
    assert.ok(
      all.some((f) => f.table && f.file === join("src", "native", "library.ts")),
      "the FFI type definitions in src/native/library.ts are not marked as a declarative table",
    );
  });

  it(`no function in src/ or ui/ is longer than ${MAX_LINES} lines (declarative tables excepted)`, () => {
    console.log(`  longest: ${all.slice(0, 10).map(describeFn).join("; ")}`);
    const long = all.filter((f) => f.lines > MAX_LINES && !f.table);
    assert.deepEqual(long.map(describeFn), [], `${long.length} functions are longer than ${MAX_LINES} lines: split them by idea`);
  });

  it("marks only tables: a marked function is never plain code over the limit in disguise", () => {
    for (const f of all.filter((x) => x.table)) {
      const path = join(ROOT, f.file);
      const lines = readFileSync(path, "utf8")
        .split("\n")
        .slice(f.line - 1, f.line - 1 + f.lines);
      // a table holds no control flow: no loops, branches or awaits
      const code = lines.filter((l) => /^\s*(if|for|while|switch|try)\b|\bawait\b/.test(l));
      assert.deepEqual(code, [], `${describeFn(f)} is marked as a declarative table but holds control flow`);
    }
  });
});
