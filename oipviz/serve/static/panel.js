// The map panel: a map's OIP streamed while it climbs, what the gallery stored, the map on
// the current drawing, its top-9 real digits, class selectivity and the precursor search.

import { del, follow, getJSON, postJSON } from "./api.js";
import { blit } from "./colors.js";
import { bars } from "./views.js";

const $ = (id) => document.getElementById(id);
const fmt = (v) => (v === null || v === undefined ? "–" : Number(v).toPrecision(3));

export class MapPanel {
  constructor(app) {
    this.app = app;
    this.stops = [];
    this.target = null;
    this.seed = 0;
    $("panel-close").addEventListener("click", () => this.close());
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.close();
    });
    $("oip-again").addEventListener("click", () => {
      this.seed += 1;
      this.startOip();
    });
    $("pre-go").addEventListener("click", () => this.startPrecursor());
    $("to-dream").addEventListener("click", () => {
      if (!this.target) return;
      this.app.dream.use(this.target.role, this.target.layer, this.target.map);
      $("dream").scrollIntoView({ behavior: "smooth" });
    });
  }

  stopAll() {
    this.stops.forEach((stop) => stop());
    this.stops = [];
  }

  close() {
    this.stopAll();
    $("panel").hidden = true;
    document.body.classList.remove("panel-open");
    this.target = null;
    this.app.select(null);
  }

  open(role, layer, map) {
    this.stopAll();
    this.target = { role, layer, map };
    this.seed = this.app.defaults.oip.seed ?? 0;
    const info = this.app.models[role].info.layers.find((l) => l.name === layer);
    const noun = info.kind === "conv" ? "map" : "unit";
    this.noun = noun;
    document.querySelector("#panel .panel-body").scrollTop = 0;
    $("panel-title").textContent = `${layer} · ${noun} ${map}` +
      (role === "compare" ? ` (${this.app.models[role].info.name})` : "");
    $("panel").hidden = false;
    document.body.classList.add("panel-open");
    $("panel").dataset.layer = layer;
    $("panel").dataset.map = map;
    this.app.select(role, layer, map);
    for (const id of ["oip-error", "pre-error", "pre-progress", "pre-row", "stored"]) {
      $(id).hidden = true;
    }
    $("pre-go").disabled = false;
    this.refreshDrawing();
    this.loadInfo();
    this.startOip();
  }

  // ---------------------------------------------------------------- the live OIP
  async startOip() {
    const t = this.target;
    const img = $("oip-img");
    img.removeAttribute("src");
    img.dataset.state = "empty";
    img.dataset.frames = 0;
    $("oip-act").textContent = "–";
    $("oip-inits").innerHTML = "";
    $("oip-error").hidden = true;
    this.setLive("queued");
    this.bar("oip-progress", 0);
    const d = this.app.defaults.oip;
    const seed = this.seed;
    $("oip-settings").textContent = `${d.inits} random starts · ${d.steps} steps · ` +
      `${d.range} range · ${d.style} style · seed ${seed}`;
    let job;
    try {
      job = await postJSON("/api/oip", { layer: t.layer, map: t.map, model: t.role, seed });
    } catch (e) {
      return this.fail("oip-error", e.message);
    }
    if (this.target !== t) return del(job.url).catch(() => {}); // another map was clicked
    this.stops.push(follow(job, {
      state: (s) => this.setLive(s.state),
      progress: (p) => this.bar("oip-progress", p.fraction),
      frame: (f) => this.frame(f),
      done: (d) => this.oipDone(d.result),
      failed: (d) => this.fail("oip-error", d.error),
      cancelled: (d) => this.setLive("cancelled"),
    }));
  }

  frame(f) {
    const img = $("oip-img");
    img.src = f.image;
    img.dataset.state = "streaming";
    img.dataset.frames = Number(img.dataset.frames || 0) + 1;
    $("oip-act").textContent = fmt(f.activation);
    $("oip-step").textContent = `step ${f.step} of ${f.steps}`;
    this.bar("oip-progress", f.step / f.steps);
    this.inits(f.inits, f.best);
  }

  oipDone(r) {
    const img = $("oip-img");
    img.src = r.image;
    img.dataset.state = "done";
    this.setLive("done");
    this.bar("oip-progress", 1);
    $("oip-act").textContent = fmt(r.best_activation);
    $("oip-step").textContent = `${r.status} · ${r.rendering} · ` +
      (r.cached ? "from the cache" : `${r.seconds.toFixed(1)} s`);
    this.inits(r.inits, r.best_init);
    this.oipActivation = r.best_activation;
    this.refreshDrawing();
  }

  inits(urls, best) {
    if (!urls) return;
    const box = $("oip-inits");
    if (box.children.length !== urls.length) {
      box.innerHTML = "";
      urls.forEach((_, i) => {
        const im = document.createElement("img");
        im.className = "pix";
        im.alt = `init ${i}`;
        box.appendChild(im);
      });
    }
    urls.forEach((u, i) => {
      box.children[i].src = u;
      box.children[i].classList.toggle("best", i === best);
    });
  }

  setLive(state) {
    const el = $("oip-live");
    el.dataset.state = state;
    el.textContent = state === "done" ? "done" : state;
  }

  // ---------------------------------------------------------------- facts
  refreshDrawing() {
    const t = this.target;
    if (!t) return;
    const col = this.app.models[t.role].column;
    const on = col.mapOnInput(t.layer, t.map);
    const facts = $("drawing-facts");
    const cv = $("drawing-map");
    if (!on) {
      cv.getContext("2d").clearRect(0, 0, cv.width, cv.height);
      facts.textContent = "draw something first";
      return;
    }
    if (on.canvas) blit(cv, on.canvas);
    else cv.getContext("2d").clearRect(0, 0, cv.width, cv.height);
    const parts = [`mean activation <b>${fmt(on.mean)}</b> (max ${fmt(on.max)})`];
    if (this.oipActivation !== undefined && this.target && this.oipTarget === t) {
      parts.push(`its OIP reaches ${fmt(this.oipActivation)}`);
    }
    if (this.bestReal !== undefined) parts.push(`best real digit: ${fmt(this.bestReal)}`);
    if (on.scale) parts.push(`colours: the layer's range ${fmt(on.scale[0])} … ${fmt(on.scale[1])}`);
    facts.innerHTML = parts.join("<br>");
  }

  async loadInfo() {
    const t = this.target;
    this.bestReal = undefined;
    this.oipActivation = undefined;
    this.oipTarget = t;
    $("top9").innerHTML = '<span class="notes">loading the dataset statistics…</span>';
    $("selectivity").innerHTML = "";
    let info;
    try {
      info = await getJSON(`/api/maps/${t.layer}/${t.map}?model=${t.role}`);
    } catch (e) {
      $("top9").innerHTML = `<span class="error">${e.message}</span>`;
      return;
    }
    if (this.target !== t) return;
    if (info.gallery) this.stored(info.gallery);
    if (!info.data) {
      $("top9").innerHTML = `<span class="notes">${info.data_error}</span>`;
      return;
    }
    const box = $("top9");
    box.innerHTML = "";
    const silent = info.data.top.every((d) => !(d.activation > 0));
    if (silent) {
      box.innerHTML = `<span class="notes">No real digit wakes this ${this.noun}: all ` +
        `${info.data.digits.toLocaleString()} give 0 (a dead or hard map; try the precursor).</span>`;
    }
    for (const d of silent ? [] : info.data.top) {
      const f = document.createElement("figure");
      f.innerHTML = `<img class="pix" src="${d.image}" alt="digit ${d.index}">` +
        `<figcaption>${this.className(d.label)}<br>${fmt(d.activation)}</figcaption>`;
      box.appendChild(f);
    }
    this.bestReal = info.data.top.length ? info.data.top[0].activation : undefined;
    const many = info.data.selectivity.length > 12; // no value labels: they would overlap
    bars($("selectivity"), info.data.selectivity, {
      win: info.data.summary.preferred_class ?? -1,
      fmt: (v) => (v > 0 && !many ? v.toPrecision(2) : ""),
    });
    this.refreshDrawing();
  }

  /** "label 7", or the card's class name ("red circle"). */
  className(k) {
    const names = (this.app.models[this.target.role].info.card || {}).class_names;
    return names && names[k] ? names[k] : `label ${k}`;
  }

  stored(g) {
    $("stored").hidden = false;
    const img = $("stored-img");
    const src = g.urls.precursor && g.status === "rescued" ? g.urls.precursor : g.urls.oip;
    if (src) img.src = src;
    img.hidden = !src;
    const page = g.urls.page ? `<br><a href="${g.urls.page}" target="_blank">open its gallery page</a>` : "";
    const range = (g.shown && g.shown.range) || g.range;
    const what = g.shown && g.shown.image === "precursor" ? "precursor pattern" : "best OIP";
    $("stored-facts").innerHTML = `status <b>${g.status}</b><br>${what}: ${fmt(g.activation)}` +
      ` (${range} range)<br>best real digit ${fmt(g.best_real_activation)}${page}`;
  }

  // ---------------------------------------------------------------- precursor
  async startPrecursor() {
    const t = this.target;
    $("pre-go").disabled = true;
    $("pre-error").hidden = true;
    $("pre-progress").hidden = false;
    this.bar("pre-progress", 0);
    let job;
    try {
      job = await postJSON("/api/precursor", { layer: t.layer, map: t.map, model: t.role });
    } catch (e) {
      $("pre-go").disabled = false;
      return this.fail("pre-error", e.message);
    }
    if (this.target !== t) return del(job.url).catch(() => {});
    const show = (src, text) => {
      $("pre-row").hidden = false;
      $("pre-img").src = src;
      $("pre-facts").innerHTML = text;
    };
    this.stops.push(follow(job, {
      progress: (p) => this.bar("pre-progress", p.fraction),
      frame: (f) => show(f.image, `refining: step ${f.step} of ${f.steps}<br>activation ${fmt(f.activation)}`),
      done: (d) => {
        const r = d.result;
        this.bar("pre-progress", 1);
        $("pre-go").disabled = false;
        show(r.image, `<b>${r.status}</b>: activation ${fmt(r.activation)} (free range)<br>` +
          `clipped to [0, 1]: ${fmt(r.in_range_activation)}<br>` +
          `${r.patterns.toLocaleString()} patterns screened; ${r.cached ? "from the cache" : `${r.seconds} s`}`);
      },
      failed: (d) => {
        $("pre-go").disabled = false;
        this.fail("pre-error", d.error);
      },
      cancelled: () => ($("pre-go").disabled = false),
    }));
  }

  // ---------------------------------------------------------------- bits
  bar(id, fraction) {
    $(id).firstElementChild.style.width = `${Math.round(100 * Math.max(0, Math.min(1, fraction)))}%`;
  }

  fail(id, message) {
    const el = $(id);
    el.textContent = message;
    el.hidden = false;
    if (id === "oip-error") this.setLive("failed");
  }
}
