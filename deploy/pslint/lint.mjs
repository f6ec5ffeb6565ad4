// Parses PowerShell scripts with the tree-sitter PowerShell grammar and
// fails on any syntax error (ERROR or MISSING node), naming line and column.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Parser, Language } from 'web-tree-sitter';
const require = createRequire(import.meta.url);
await Parser.init();
const lang = await Language.load(require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm'));
const parser = new Parser();
parser.setLanguage(lang);
let bad = 0;
for (const file of process.argv.slice(2)) {
  const tree = parser.parse(readFileSync(file, 'utf8'));
  const walk = (n) => {
    if (n.type === 'ERROR' || n.isMissing) {
      bad++;
      console.error(`${file}:${n.startPosition.row + 1}:${n.startPosition.column + 1}: syntax error near ${JSON.stringify(n.text.slice(0, 60))}`);
      return;
    }
    for (const c of n.children) walk(c);
  };
  walk(tree.rootNode);
  if (!tree.rootNode.hasError) console.log(`${file}: ok (${tree.rootNode.descendantCount} nodes)`);
}
process.exit(bad ? 1 : 0);
