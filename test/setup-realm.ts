import vm from 'node:vm';

// Jest runs a test file in its own realm, but onnxruntime-node returns typed arrays of Node's main realm, and
// onnxruntime-common's `data instanceof Float32Array` check then fails ("A float32 tensor's data must be type of
// function Float32Array()"). Outside Jest there is one realm; here every test realm gets the main realm's typed
// arrays before transformers.js is loaded (it is imported lazily by the embedder and the model).
for (const name of ['Float32Array', 'Float64Array', 'Int8Array', 'Uint8Array', 'Int16Array', 'Uint16Array', 'Int32Array',
  'Uint32Array', 'BigInt64Array', 'BigUint64Array'] as const) {
  (globalThis as Record<string, unknown>)[name] = vm.runInThisContext(name);
}
