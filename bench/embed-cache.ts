/**
 * The real embedder with a disk cache of its vectors (bench/results/.embeddings/, gitignored), so a second run
 * of a benchmark does not embed ~15k queries again. A vector is only reused for the same model file: the key
 * includes the ONNX file's size and modification time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadEmbedder, resolveEmbedModel, type Embedder } from '../src/embed/embedder';
import { projectRoot } from '../src/paths';

export interface CachedEmbedder extends Embedder {
  /** Texts embedded by the model in this run (the rest came from the cache). */
  readonly computed: () => number;
  save(): void;
}

export async function cachedEmbedder(model: string): Promise<CachedEmbedder> {
  const inner = await loadEmbedder({ model });
  const where = resolveEmbedModel(model);
  // The model file the embedder loads (kvcache.json may name q4), so a rebuilt model never reuses old vectors.
  const onnxDir = path.join(where.localPath, where.name, 'onnx');
  const onnx = ['model_q4.onnx', 'model_quantized.onnx'].map((f) => path.join(onnxDir, f)).find((f) => fs.existsSync(f)) ?? path.join(onnxDir, 'model_quantized.onnx');
  const st = fs.statSync(onnx);
  const dir = path.join(projectRoot(), 'bench', 'results', '.embeddings');
  const file = path.join(dir, `${where.name}-${st.size}-${Math.floor(st.mtimeMs)}.jsonl`);
  const cache = new Map<string, Float32Array>();
  if (fs.existsSync(file)) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue;
      const [text, b64] = JSON.parse(line) as [string, string];
      const buf = Buffer.from(b64, 'base64');
      const v = new Float32Array(buf.byteLength / 4);
      new Uint8Array(v.buffer).set(buf);
      cache.set(text, v);
    }
  }
  const fresh: Array<[string, Float32Array]> = [];
  let computed = 0;
  return {
    name: inner.name,
    dims: inner.dims,
    computed: () => computed,
    async embed(texts: string[]) {
      const out: Float32Array[] = [];
      for (const t of texts) {
        let v = cache.get(t);
        if (!v) {
          [v] = await inner.embed([t]);
          if (!v) throw new Error('no vector');
          cache.set(t, v);
          fresh.push([t, v]);
          computed += 1;
        }
        out.push(v);
      }
      return out;
    },
    save() {
      if (fresh.length === 0) return;
      fs.mkdirSync(dir, { recursive: true });
      fs.appendFileSync(file, fresh.map(([t, v]) => JSON.stringify([t, Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')])).join('\n') + '\n');
      fresh.length = 0;
    },
    close: () => inner.close(),
  };
}
