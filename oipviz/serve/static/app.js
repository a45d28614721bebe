// The explorer page: draw (or drop an image), and every stroke updates the prediction,
// the attribution and every layer's activation maps of each served model.

import { getJSON, postForm } from "./api.js";
import { blit, grayCanvas } from "./colors.js";
import { Pad } from "./draw.js";
import { Dream } from "./dream.js";
import { MapPanel } from "./panel.js";
import { ModelColumn } from "./views.js";

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MIN_GAP = 80; // ms between two updates while drawing

class App {
  async boot() {
    const info = await getJSON("/api/model");
    this.defaults = info.defaults;
    this.models = { main: { info } };
    if (info.compare) this.models.compare = { info: info.compare };
    this.header(info);
    const results = $("results");
    for (const m of Object.values(this.models)) {
      m.column = new ModelColumn(m.info, (role, layer, map) => this.panel.open(role, layer, map));
      results.appendChild(m.column.el);
    }
    this.pad = new Pad($("pad"), () => this.schedule());
    this.panel = new MapPanel(this);
    this.dream = new Dream(this);
    this.dream.setup(this.models, info.defaults.dream);
    this.tools();
    this.health();
    document.body.dataset.ready = "1";
  }

  header(info) {
    const card = info.card || {};
    const bits = [`<b>${info.name}</b>`];
    if (card.architecture) bits.push(`${card.architecture} on ${card.dataset}`);
    if (typeof card.heldout_accuracy === "number") {
      bits.push(`${(100 * card.heldout_accuracy).toFixed(1)}% held-out`);
    }
    bits.push(`input ${info.input.geometry}`);
    if (!info.input.mnist_style) {
      // drawings are resized for this model, not made MNIST-style digits
      $("input-title").textContent = "Draw, or drop an image";
      $("preprocess-switch").hidden = true;
      $("top9-title").textContent = "Top-9 real images";
    }
    if (info.compare) bits.push(`compared with <b>${info.compare.name}</b>`);
    $("model-line").innerHTML = bits.join(" · ");
    $("model-line").title = info.input.convention_text;
    if (info.gallery) $("gallery-link").hidden = false;
  }

  tools() {
    $("undo").addEventListener("click", () => {
      this.pad.undo();
      this.schedule();
    });
    $("clear").addEventListener("click", () => {
      this.pad.clear();
      this.schedule();
    });
    $("width").addEventListener("input", (e) => (this.pad.width = Number(e.target.value)));
    this.pad.width = Number($("width").value);
    $("preprocess").addEventListener("change", () => this.schedule());
    document.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key === "z") {
        this.pad.undo();
        this.schedule();
      }
    });
    const drop = $("drop");
    drop.addEventListener("dragover", (e) => {
      e.preventDefault();
      drop.classList.add("dragging");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("dragging");
      if (e.dataTransfer.files.length) this.loadImage(e.dataTransfer.files[0]);
    });
    $("file").addEventListener("change", (e) => {
      if (e.target.files.length) this.loadImage(e.target.files[0]);
    });
  }

  async loadImage(file) {
    try {
      this.pad.setBackground(await createImageBitmap(file));
      this.schedule();
    } catch (e) {
      this.inputError(`${file.name}: the browser cannot read this image`);
    }
  }

  // ------------------------------------------------------------------ updates
  schedule() {
    this.dirty = true;
    if (!this.busy) this.run();
  }

  async run() {
    this.busy = true;
    while (this.dirty) {
      this.dirty = false;
      const t0 = performance.now();
      await this.update();
      const dt = performance.now() - t0;
      if (dt < MIN_GAP) await sleep(MIN_GAP - dt);
    }
    this.busy = false;
  }

  async update() {
    if (this.pad.empty) {
      $("input-notes").textContent = "draw with the mouse or a finger";
      const c = $("input28");
      c.getContext("2d").clearRect(0, 0, c.width, c.height);
      this.inputError(null);
      return;
    }
    const blob = await this.pad.blob();
    const pre = $("preprocess").checked;
    await Promise.all(Object.keys(this.models).map((role) => this.updateModel(role, blob, pre)));
    this.panel.refreshDrawing();
  }

  async updateModel(role, blob, pre) {
    const q = `?preprocess=${pre}&model=${role}`;
    const form = () => {
      const f = new FormData();
      f.append("image", blob, "drawing.png");
      return f;
    };
    const col = this.models[role].column;
    try {
      const [pred, exp] = await Promise.all([
        postForm(`/api/predict${q}&maps=true`, form()),
        postForm(`/api/explain${q}&method=${this.models[role].info.methods.join(",")}`, form()),
      ]);
      col.update(pred);
      col.updateExplain(exp);
      if (role === "main") this.showInput(pred.input);
      this.inputError(null);
    } catch (e) {
      this.inputError(e.message);
    }
  }

  showInput(input) {
    if (input.image) {
      const im = new Image(); // a colour model's input, as the model gets it
      im.onload = () => blit($("input28"), im);
      im.src = input.image;
    } else {
      blit($("input28"), grayCanvas(input.pixels));
    }
    const notes = [];
    if (input.preprocessed) {
      notes.push(input.inverted ? "inverted (light background)" : "not inverted");
      const [t, l, b, r] = input.bbox;
      const { height: h, width: w } = this.models.main.info.input;
      const box = Math.round((20 * w) / 28); // MNIST's 20-px box in its 28-px frame
      notes.push(`ink box ${r - l}×${b - t} px scaled into ${box}×${box}, centred by its ` +
        `centre of mass in ${w}×${h}`);
    } else if (this.models.main.info.input.mnist_style) {
      notes.push("preprocessing off: the picture resized, nothing else");
    }
    notes.push(...input.notes);
    $("input-notes").textContent = notes.join("; ");
  }

  inputError(msg) {
    const el = $("input-error");
    el.hidden = !msg;
    el.textContent = msg || "";
  }

  select(role, layer, map) {
    for (const [r, m] of Object.entries(this.models)) {
      m.column.select(r === role ? layer : null, map);
    }
  }

  // ------------------------------------------------------------------ server state
  async health() {
    const el = $("status");
    try {
      const h = await getJSON("/api/health");
      el.dataset.state = h.ready ? "ready" : "warming";
      el.textContent = h.ready ? (h.running ? "working" : "ready") : "warming up";
      el.title = `queue ${h.queued}/${h.max_queue}; cached results ${h.cached_results}`;
    } catch (e) {
      el.dataset.state = "down";
      el.textContent = "server down";
    }
    // every 3 s while it warms up, then every 10 s (each poll is a line in the server's log)
    setTimeout(() => this.health(), el.dataset.state === "warming" ? 3000 : 10000);
  }
}

const app = new App();
window.oipviz = app;
app.boot().catch((e) => {
  $("model-line").textContent = `cannot reach the server: ${e.message}`;
});
