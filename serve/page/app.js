// The page's script: draw on the canvas (mouse, pen or touch through
// pointer events), send it as a PNG to the model's :classify route, which
// prepares it exactly as "resgo predict" prepares a file, and show the top
// three classes. No framework, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
const result = $("result");
const statusLine = $("status");
let model = "";       // the served model's name
let labels = [];      // class index -> label
let drawn = false;    // ink on the canvas
let seq = 0;          // the last request sent
let busy = false;     // a request is under way
let again = false;    // the canvas changed while it was

function clearCanvas() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  drawn = false;
}

function setStatus(text, isError) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", !!isError);
}

// showInput draws the 28×28 input the server prepared from the picture:
// what the model sees.
function showInput(px) {
  const c = $("seen");
  const g = c.getContext("2d");
  const img = g.createImageData(28, 28);
  for (let i = 0; px && i < 784; i++) {
    const v = Math.round(255 * px[i]);
    img.data.set([v, v, v, 255], 4 * i);
  }
  g.putImageData(img, 0, 0);
  c.hidden = !px;
}

function showTop(answer) {
  const rows = document.querySelectorAll("#top .row");
  rows.forEach((row, i) => {
    const t = answer && answer.top[i];
    row.querySelector(".label").textContent = t ? t.label : "";
    row.querySelector(".pct").textContent = t ? (100 * t.probability).toFixed(1) + "%" : "";
    row.querySelector(".fill").style.width = t ? (100 * t.probability).toFixed(1) + "%" : "0";
  });
  if (!answer) showInput(null);
  result.dataset.class = answer ? String(answer.class) : "";
  result.dataset.label = answer ? answer.label : "";
}

// classify sends a picture (a Blob or File) and shows the answer, unless a
// newer request was sent meanwhile.
async function classify(blob) {
  const mine = ++seq;
  try {
    const resp = await fetch("v1/models/" + encodeURIComponent(model) + ":classify?input=1", {
      method: "POST", body: blob, headers: { "Content-Type": blob.type || "application/octet-stream" },
    });
    const answer = await resp.json();
    if (mine !== seq) return;
    if (!resp.ok) {
      showTop(null);
      setStatus(answer.error || ("error " + resp.status), true);
    } else {
      showTop(answer);
      showInput(answer.input);
      setStatus("It looks like a " + answer.label + ".");
    }
  } catch (e) {
    if (mine === seq) { showTop(null); setStatus("The server did not answer: " + e.message, true); }
  }
  if (mine === seq) result.dataset.seq = String(mine);
}

// sendCanvas classifies the drawing; while a request is under way, later
// changes wait for it and go in one request.
function sendCanvas() {
  if (!drawn || !model) return;
  if (busy) { again = true; return; }
  busy = true;
  canvas.toBlob(async (blob) => {
    await classify(blob);
    busy = false;
    if (again) { again = false; sendCanvas(); }
  }, "image/png");
}

// Drawing: thick round strokes, black on white, as a pen on paper.
let last = null;
function point(ev) {
  const r = canvas.getBoundingClientRect();
  return { x: (ev.clientX - r.left) * canvas.width / r.width, y: (ev.clientY - r.top) * canvas.height / r.height };
}
function stroke(from, to) {
  ctx.strokeStyle = "#000";
  ctx.lineWidth = 22;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(from.x, from.y);
  ctx.lineTo(to.x, to.y);
  ctx.stroke();
  drawn = true;
}
canvas.addEventListener("pointerdown", (ev) => {
  ev.preventDefault();
  canvas.setPointerCapture(ev.pointerId);
  last = point(ev);
  stroke(last, last);
});
canvas.addEventListener("pointermove", (ev) => {
  if (!last) return;
  ev.preventDefault();
  const p = point(ev);
  stroke(last, p);
  last = p;
  sendCanvas(); // live: at most one request at a time
});
function endStroke(ev) {
  if (!last) return;
  last = null;
  sendCanvas();
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

$("clear").addEventListener("click", () => {
  clearCanvas();
  seq++;
  showTop(null);
  result.dataset.seq = String(seq);
  setStatus("Draw a digit with the mouse or a finger.");
});

// A picture from a file: shown on the canvas, classified as it is (the
// server prepares it as "resgo predict" does).
$("file").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  if (!file) return;
  try {
    const bmp = await createImageBitmap(file);
    clearCanvas();
    const s = Math.min(canvas.width / bmp.width, canvas.height / bmp.height);
    const w = bmp.width * s, h = bmp.height * s;
    ctx.imageSmoothingEnabled = s < 4;
    ctx.drawImage(bmp, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
  } catch (e) {
    clearCanvas(); // not something the browser can show; the server says why
  }
  setStatus("Classifying " + file.name + "…");
  await classify(file);
  ev.target.value = "";
});

async function loadModel(name) {
  model = name;
  $("name").textContent = name;
  const resp = await fetch("v2/models/" + encodeURIComponent(name));
  const meta = await resp.json();
  const p = meta.parameters || {};
  labels = p.labels || [];
  const arch = p.architecture && p.architecture !== name ? " (" + p.architecture + ")" : "";
  $("info").textContent = name + arch + " · epoch " + p.epoch +
    " · test accuracy " + (100 * (p.test_accuracy || 0)).toFixed(2) + "%";
  document.title = "resgo: " + name;
  if (drawn) sendCanvas();
}

async function start() {
  clearCanvas();
  showTop(null);
  try {
    const resp = await fetch("v2/repository/index", { method: "POST" });
    const models = await resp.json();
    const pick = $("model");
    for (const m of models) pick.add(new Option(m.name, m.name));
    $("model-pick").hidden = models.length < 2;
    pick.addEventListener("change", () => loadModel(pick.value));
    await loadModel(models[0].name);
    document.body.dataset.ready = "1";
  } catch (e) {
    setStatus("Cannot reach the server: " + e.message, true);
  }
}
start();
