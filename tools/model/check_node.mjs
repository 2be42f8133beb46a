// Checks that transformers.js (Node, onnxruntime-node, CPU) reproduces models/kvcache-t5-faq/expected.json:
// same input token ids and same greedy output. Needs @huggingface/transformers installed where node can find it,
// e.g. outside the repo:  mkdir /tmp/tjs && cd /tmp/tjs && npm init -y && npm i --ignore-scripts @huggingface/transformers@4.3.2
//   (--ignore-scripts: onnxruntime-node's install script tries to fetch CUDA binaries from nuget; the CPU binaries
//    are in the npm package itself)  then:  cp /work/main/tools/model/check_node.mjs . && node check_node.mjs [repo root]
import { AutoTokenizer, AutoModelForSeq2SeqLM, env } from '@huggingface/transformers';
import fs from 'node:fs';
const root = process.argv[2] || '/work/main';
env.allowRemoteModels = false;
env.localModelPath = `${root}/models/`;
const exp = JSON.parse(fs.readFileSync(`${root}/models/kvcache-t5-faq/expected.json`, 'utf8'));
const tok = await AutoTokenizer.from_pretrained('kvcache-t5-faq');
const model = await AutoModelForSeq2SeqLM.from_pretrained('kvcache-t5-faq', { dtype: 'q8', device: 'cpu' });
let ok = 0;
for (const c of exp.cases) {
  const enc = tok(c.input);
  const ids = Array.from(enc.input_ids.data, Number);
  const sameIds = JSON.stringify(ids) === JSON.stringify(c.input_ids);
  const t0 = Date.now();
  const out = await model.generate({ ...enc, max_new_tokens: 128, do_sample: false, num_beams: 1 });
  const text = tok.decode(out[0], { skip_special_tokens: true }).trim();
  const same = text === c.expected_output;
  if (same && sameIds) ok++;
  console.log(JSON.stringify({ q: c.question, sameIds, same, ms: Date.now() - t0, text: text.slice(0, 80) }));
}
console.log(`${ok}/${exp.cases.length} reproduced`);
process.exit(ok === exp.cases.length ? 0 : 1);
