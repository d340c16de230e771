// Runs an ONNX model in onnxruntime for resgo's tests:
//   node ort_run.js MODEL.onnx INPUT.f32 N OUT_PREFIX
// INPUT.f32 holds N images of the model's input shape, float32 little-endian;
// every output is written to OUT_PREFIX<name>.f32 the same way.
const fs = require('fs');
const ort = require('onnxruntime-node');
async function main() {
  const [model, input, n, prefix] = process.argv.slice(2);
  const s = await ort.InferenceSession.create(model, {intraOpNumThreads: 2, interOpNumThreads: 1});
  const meta = s.inputMetadata[0];
  const dims = meta.shape.slice(1).map(Number);
  const b = fs.readFileSync(input);
  const x = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  const out = await s.run({[s.inputNames[0]]: new ort.Tensor('float32', x, [Number(n), ...dims])});
  for (const name of s.outputNames) {
    const d = out[name].data;
    fs.writeFileSync(prefix + name + '.f32', Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  }
}
main().catch(e => { console.error('onnxruntime: ' + e.message); process.exit(1); });
