#!/usr/bin/env node
'use strict';
/**
 * Import structure check for src/: no import circles between files, and no folder importing from a layer above it
 * (docs/development.md, "Layers"). Type-only imports count: a circle of types is still a circle a reader has to hold
 * in their head, and the next value import along it makes it a load-order bug.
 *
 *   node scripts/check-imports.js             checks ./src, exit 1 and one line per problem when anything is wrong
 *   node scripts/check-imports.js --graph     also prints the folder-level import graph
 *   node scripts/check-imports.js --layers    prints the layer table as one line (docs/development.md quotes it)
 *   node scripts/check-imports.js --root DIR  checks DIR/src instead (tests)
 *
 * Specifiers are read from the TypeScript syntax tree (not regular expressions, which a regex literal or a string
 * containing `from '` would fool): import / import type / export … from / import x = require() / require() /
 * import() / typeof import(). Only relative specifiers that resolve to a .ts file under src/ are edges.
 */
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

/**
 * The layer table, bottom to top: the only place it is written down in code. A folder may import from folders in a
 * lower row, and from itself; never from a higher row, and never from another folder in its own row (siblings stay
 * independent, so either can move down later without dragging the other along).
 */
const LAYERS = [
  ['util'],
  // telemetry (metrics, stats, spans) sits beside native and event, below sensor: the sensor implements the stats
  // contract telemetry defines (src/telemetry/sensor-stats.ts), and telemetry imports nothing but util.
  ['native', 'event', 'telemetry'],
  ['sensor', 'formatters'],
  ['sinks'],
  ['pipeline'],
  ['config'],
  ['daemon'],
  ['cli'],
];

function layerIndex(layers) {
  const index = new Map();
  layers.forEach((row, rank) => row.forEach((folder) => index.set(folder, rank)));
  return index;
}

function listTsFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTsFiles(full));
    else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out.sort();
}

/** Every module specifier in a file, with its 1-based line. */
function readSpecifiers(file) {
  const text = fs.readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found = [];
  const add = (literal) => {
    if (literal && ts.isStringLiteralLike(literal)) {
      found.push({
        specifier: literal.text,
        line: source.getLineAndCharacterOfPosition(literal.getStart(source)).line + 1,
      });
    }
  };
  const visit = (node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference))
      add(node.moduleReference.expression);
    else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const isRequire = ts.isIdentifier(callee) && callee.text === 'require';
      if ((isRequire || callee.kind === ts.SyntaxKind.ImportKeyword) && node.arguments.length > 0)
        add(node.arguments[0]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function resolveRelative(fromFile, specifier) {
  const base = path.resolve(path.dirname(fromFile), specifier);
  for (const candidate of [base, `${base}.ts`, path.join(base, 'index.ts')]) {
    if (candidate.endsWith('.ts') && fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

/** Strongly connected components (Tarjan, iterative so a deep chain cannot overflow the stack). */
function stronglyConnected(nodes, edgesOf) {
  let counter = 0;
  const index = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const components = [];
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work = [{ node: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter);
    counter += 1;
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const targets = edgesOf(frame.node);
      if (frame.next < targets.length) {
        const target = targets[frame.next++];
        if (!index.has(target)) {
          index.set(target, counter);
          low.set(target, counter);
          counter += 1;
          stack.push(target);
          onStack.add(target);
          work.push({ node: target, next: 0 });
        } else if (onStack.has(target)) {
          low.set(frame.node, Math.min(low.get(frame.node), index.get(target)));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent), low.get(frame.node)));
      }
      if (low.get(frame.node) === index.get(frame.node)) {
        const component = [];
        let member;
        do {
          member = stack.pop();
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        components.push(component);
      }
    }
  }
  return components;
}

/** One shortest circle through `start` inside its component, as a list of edges. */
function circleThrough(start, members, edgesFrom) {
  const previous = new Map([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift();
    for (const edge of edgesFrom(node)) {
      if (!members.has(edge.to)) continue;
      if (edge.to === start) {
        const path = [edge];
        for (let at = previous.get(node); at !== null; at = previous.get(at.from)) path.unshift(at);
        return path;
      }
      if (!previous.has(edge.to)) {
        previous.set(edge.to, edge);
        queue.push(edge.to);
      }
    }
  }
  return [];
}

/**
 * Checks the tree under `root` (which holds `src/`). Returns the problems as values; paths are relative to root.
 * `layers` defaults to the table above (the test passes its own for a synthetic tree).
 */
function checkImports({ root, layers = LAYERS }) {
  const srcDir = path.join(root, 'src');
  const rel = (file) => path.relative(root, file).split(path.sep).join('/');
  const rankOf = layerIndex(layers);
  const folderOf = (relFile) => {
    const parts = relFile.split('/');
    return parts.length > 2 ? parts[1] : '';
  };
  const files = listTsFiles(srcDir).map(rel);
  const edges = new Map(files.map((file) => [file, []]));
  const unresolved = [];
  const unknownFolders = new Set();
  for (const file of files) {
    for (const { specifier, line } of readSpecifiers(path.join(root, file))) {
      if (!specifier.startsWith('.')) continue;
      const target = resolveRelative(path.join(root, file), specifier);
      if (target === undefined) {
        // A relative specifier that leaves src/ (package.json, rules/schema/*.json) is not a layer edge.
        if (path.resolve(path.dirname(path.join(root, file)), specifier).startsWith(srcDir + path.sep)) {
          unresolved.push({ file, line, specifier });
        }
        continue;
      }
      const to = rel(target);
      if (!to.startsWith('src/')) continue;
      edges.get(file).push({ from: file, line, to });
    }
  }

  const upward = [];
  for (const file of files) {
    const fromFolder = folderOf(file);
    if (!rankOf.has(fromFolder)) unknownFolders.add(fromFolder || '(src root)');
    for (const edge of edges.get(file)) {
      const toFolder = folderOf(edge.to);
      if (toFolder === fromFolder || !rankOf.has(fromFolder) || !rankOf.has(toFolder)) continue;
      const fromRank = rankOf.get(fromFolder);
      const toRank = rankOf.get(toFolder);
      if (toRank < fromRank) continue;
      upward.push({
        ...edge,
        fromFolder,
        fromRank,
        toFolder,
        toRank,
        kind: toRank === fromRank ? 'sideways' : 'upward',
      });
    }
  }
  for (const folder of new Set(files.map(folderOf)))
    if (!rankOf.has(folder)) unknownFolders.add(folder || '(src root)');

  const cycles = [];
  const targetsOf = (file) => edges.get(file).map((e) => e.to);
  for (const component of stronglyConnected(files, targetsOf)) {
    const members = new Set(component);
    const selfLoop = component.length === 1 && targetsOf(component[0]).includes(component[0]);
    if (component.length < 2 && !selfLoop) continue;
    const start = [...component].sort()[0];
    cycles.push(circleThrough(start, members, (file) => edges.get(file)));
  }

  const folderGraph = new Map();
  for (const file of files) {
    for (const edge of edges.get(file)) {
      const a = folderOf(file);
      const b = folderOf(edge.to);
      if (a === b) continue;
      if (!folderGraph.has(a)) folderGraph.set(a, new Set());
      folderGraph.get(a).add(b);
    }
  }
  return { files: files.length, cycles, upward, unresolved, unknownFolders: [...unknownFolders].sort(), folderGraph };
}

/** One line per problem; empty when the tree is clean. */
function formatProblems(result) {
  const lines = [];
  for (const cycle of result.cycles) {
    const hops = cycle.map((e) => `${e.from}:${e.line}`).join(' → ');
    lines.push(`import circle: ${hops} → ${cycle[0].from}`);
  }
  for (const e of result.upward) {
    lines.push(
      `${e.kind} import: ${e.from}:${e.line} → ${e.to} (${e.fromFolder}, layer ${e.fromRank}, imports ${e.toFolder}, layer ${e.toRank})`,
    );
  }
  for (const folder of result.unknownFolders)
    lines.push(`folder not in the layer table (scripts/check-imports.js LAYERS): src/${folder}`);
  for (const u of result.unresolved) lines.push(`unresolved import: ${u.file}:${u.line} → '${u.specifier}'`);
  return lines;
}

/** The layer table as one line, bottom to top: `util → native, event, telemetry → …`. */
function layersLine(layers = LAYERS) {
  return layers.map((row) => row.join(', ')).join(' → ');
}

function main(argv) {
  if (argv.includes('--layers')) {
    console.log(layersLine());
    return 0;
  }
  const rootAt = argv.indexOf('--root');
  const options =
    rootAt >= 0 ? { root: path.resolve(argv[rootAt + 1] ?? '.') } : { root: path.resolve(__dirname, '..') };
  const result = checkImports(options);
  if (argv.includes('--graph')) {
    for (const [from, to] of [...result.folderGraph].sort()) console.log(`${from} → ${[...to].sort().join(', ')}`);
  }
  const problems = formatProblems(result);
  if (problems.length > 0) {
    for (const line of problems) console.error(line);
    console.error(
      `check-imports: ${problems.length} problem(s) in ${result.files} files; layers (bottom to top): ${layersLine()}; see docs/development.md`,
    );
    return 1;
  }
  console.error(`check-imports: ${result.files} files, no import circles, nothing imports upward`);
  return 0;
}

module.exports = { LAYERS, checkImports, formatProblems, layersLine };

if (require.main === module) process.exitCode = main(process.argv.slice(2));
