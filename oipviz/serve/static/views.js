// One model's column: the probabilities, where it looks (saliency, Grad-CAM) and every
// layer's activation maps as a clickable grid.

import { blit, color, css, grayCanvas, heatCanvas } from "./colors.js";

const CELL = 30; // target size (px) of a conv map in the grid

export function decodeStack(maps) {
  const raw = atob(maps.data);
  const codes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) codes[i] = raw.charCodeAt(i);
  return codes;
}

/** A bar chart of values (class probabilities, selectivity) into ``el``. */
export function bars(el, values, { win = -1, labels = null, fmt = null, max = null } = {}) {
  if (el.children.length !== values.length) {
    el.innerHTML = "";
    values.forEach((_, i) => {
      const b = document.createElement("div");
      b.className = "bar";
      b.innerHTML = '<div class="pct"></div><div class="fill-wrap"><div class="fill"></div></div>' +
        `<div class="cls">${labels ? labels[i] : i}</div>`;
      el.appendChild(b);
    });
  }
  const top = max ?? Math.max(1e-12, ...values);
  values.forEach((v, i) => {
    const b = el.children[i];
    b.classList.toggle("win", i === win);
    b.querySelector(".fill").style.height = `${Math.max(0, (100 * v) / top)}%`;
    b.querySelector(".pct").textContent = fmt ? fmt(v) : "";
    b.title = `${labels ? labels[i] : i}: ${v.toPrecision(3)}`;
  });
}

/** The input (gray) with an attribution map over it. */
function overlay(pixels, values, signed, mode) {
  const h = pixels.length, w = pixels[0].length;
  const c = document.createElement("canvas");
  c.width = w;
  c.height = h;
  const ctx = c.getContext("2d");
  const img = ctx.createImageData(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const g = 255 * pixels[y][x] * 0.6, v = values[y][x], i = 4 * (y * w + x);
      const t = signed ? (v + 1) / 2 : Math.max(0, v);
      const [r, gg, b] = color(signed ? "rdbu" : "magma", signed ? t : Math.min(1, t));
      const a = mode === "cam" ? 0.7 : Math.min(1, Math.abs(v) * 1.6);
      img.data[i] = (1 - a) * g + a * r;
      img.data[i + 1] = (1 - a) * g + a * gg;
      img.data[i + 2] = (1 - a) * g + a * b;
      img.data[i + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return c;
}

export class ModelColumn {
  constructor(info, onPick) {
    this.info = info;
    this.role = info.role;
    this.onPick = onPick;
    this.pred = null;
    const tpl = document.getElementById("model-column").content.cloneNode(true);
    this.el = tpl.querySelector(".model-card");
    this.el.dataset.role = this.role;
    const title = this.el.querySelector(".model-title");
    title.innerHTML = `<span>${info.name}</span><span class="role">${this.role === "main" ? "model" : "compare"}</span>`;
    this.cells = {};
    const layers = this.el.querySelector(".layers");
    for (const layer of info.layers) {
      if (!layer.kind) continue;
      layers.appendChild(this.layerBlock(layer));
    }
  }

  layerBlock(layer) {
    const box = document.createElement("div");
    box.className = "layer";
    box.dataset.layer = layer.name;
    const n = layer.maps ?? layer.units;
    const what = layer.kind === "conv"
      ? `${n} maps, ${layer.shape[0]}×${layer.shape[1]}` : `${n} units`;
    box.innerHTML = `<div class="layer-head"><b>${layer.name}</b> · ${what}` +
      ' <span class="silent"></span></div>';
    const grid = document.createElement("div");
    grid.className = layer.kind === "conv" ? "grid" : "units";
    const cells = [];
    const last = layer.name === this.info.layers[this.info.layers.length - 1].name;
    for (let m = 0; m < n; m++) {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.layer = layer.name;
      b.dataset.map = m;
      b.title = `${layer.name} ${layer.kind === "conv" ? "map" : "unit"} ${m}`;
      if (layer.kind === "conv") {
        b.className = "map-cell";
        const cv = document.createElement("canvas");
        const s = Math.max(1, Math.floor(CELL / layer.shape[0]));
        cv.width = layer.shape[1] * s;
        cv.height = layer.shape[0] * s;
        cv.className = "pix";
        b.appendChild(cv);
      } else {
        b.className = last ? "unit wide" : "unit";
        if (last) b.textContent = m;
      }
      b.addEventListener("click", () => this.onPick(this.role, layer.name, m));
      grid.appendChild(b);
      cells.push(b);
    }
    this.cells[layer.name] = cells;
    box.appendChild(grid);
    return box;
  }

  update(pred) {
    this.pred = pred;
    const p = pred.probabilities;
    this.el.querySelector(".top-class").textContent = pred.predicted;
    const names = (this.info.card || {}).class_names; // e.g. "red circle" (shapes)
    this.el.querySelector(".top-name").textContent = names ? names[pred.predicted] ?? "" : "";
    this.el.querySelector(".top-prob").textContent = `${(100 * pred.probability).toFixed(1)}%`;
    bars(this.el.querySelector(".bars"), p, {
      win: pred.predicted,
      fmt: (v) => (v >= 0.01 ? `${Math.round(100 * v)}` : ""),
      max: 1,
    });
    blit(this.el.querySelector(".att-input"), grayCanvas(pred.input.pixels));
    for (const layer of pred.layers) this.updateLayer(layer);
  }

  updateLayer(layer) {
    const cells = this.cells[layer.name];
    if (!cells) return;
    const rank = new Map(layer.top.map((m, i) => [m, i + 1]));
    const head = this.el.querySelector(`.layer[data-layer="${layer.name}"] .silent`);
    head.textContent = `· ${layer.silent} silent`;
    if (layer.kind === "conv" && layer.maps) {
      const codes = decodeStack(layer.maps);
      const [n, h, w] = layer.maps.shape;
      for (let m = 0; m < n; m++) {
        const off = m * h * w;
        blit(cells[m].firstChild, heatCanvas(h, w, (i) => codes[off + i] / 255));
      }
    } else {
      const lo = Math.min(0, ...layer.mean), hi = Math.max(...layer.mean);
      layer.mean.forEach((v, m) => {
        cells[m].style.background = css("viridis", (v - lo) / Math.max(1e-12, hi - lo));
      });
    }
    cells.forEach((c, m) => {
      c.classList.toggle("top", rank.has(m));
      if (rank.has(m)) c.dataset.rank = rank.get(m);
      c.title = `${layer.name} ${layer.kind === "conv" ? "map" : "unit"} ${m}: mean ${layer.mean[m]}`;
    });
  }

  updateExplain(exp) {
    if (!this.pred) return;
    const px = this.pred.input.pixels;
    const sal = exp.methods.saliency, cam = exp.methods.gradcam;
    if (sal) blit(this.el.querySelector(".att-saliency"), overlay(px, sal.values, sal.signed, "sal"));
    if (cam) blit(this.el.querySelector(".att-gradcam"), overlay(px, cam.values, cam.signed, "cam"));
  }

  select(layer, m) {
    this.el.querySelectorAll(".selected").forEach((c) => c.classList.remove("selected"));
    if (layer !== null && this.cells[layer]) this.cells[layer][m].classList.add("selected");
  }

  /** One map's activation picture and its mean on the current drawing, if any. */
  mapOnInput(layerName, m) {
    if (!this.pred) return null;
    const layer = this.pred.layers.find((l) => l.name === layerName);
    if (!layer) return null;
    const out = { mean: layer.mean[m], max: layer.max[m], canvas: null };
    if (layer.kind === "conv" && layer.maps) {
      const codes = decodeStack(layer.maps);
      const [, h, w] = layer.maps.shape;
      const off = m * h * w;
      out.canvas = heatCanvas(h, w, (i) => codes[off + i] / 255);
      out.scale = [layer.maps.lo, layer.maps.hi];
    }
    return out;
  }
}
