// The dream section: drop a photo, pick a map (or "all" of a layer) and the rounds; each
// round arrives as it finishes; the full-size result can be downloaded.

import { follow, postForm } from "./api.js";

const $ = (id) => document.getElementById(id);

export class Dream {
  constructor(app) {
    this.app = app;
    this.file = null;
    this.stop = null;
    const drop = $("dream-drop");
    drop.addEventListener("dragover", (e) => {
      e.preventDefault();
      drop.classList.add("dragging");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("dragging");
      if (e.dataTransfer.files.length) this.setFile(e.dataTransfer.files[0]);
    });
    $("dream-file").addEventListener("change", (e) => {
      if (e.target.files.length) this.setFile(e.target.files[0]);
    });
    $("dream-iters").addEventListener("input", (e) => ($("dream-iters-out").textContent = e.target.value));
    $("dream-go").addEventListener("click", () => this.start());
    $("dream-stop").addEventListener("click", () => this.end("stopped"));
  }

  setup(models, defaults) {
    const sel = $("dream-layer");
    const main = models.main.info;
    sel.innerHTML = "";
    for (const l of main.layers.filter((l) => l.kind)) {
      const o = document.createElement("option");
      o.value = o.textContent = l.name;
      sel.appendChild(o);
    }
    sel.value = defaults.layer;
    $("dream-map").value = defaults.map;
    $("dream-iters").value = defaults.iters;
    $("dream-iters-out").textContent = defaults.iters;
    const ms = $("dream-model");
    ms.innerHTML = Object.values(models)
      .map((m) => `<option value="${m.info.role}">${m.info.name}</option>`).join("");
    $("dream-model-label").hidden = Object.keys(models).length < 2;
  }

  use(role, layer, map) {
    $("dream-model").value = role;
    $("dream-layer").value = layer;
    $("dream-map").value = map;
  }

  setFile(file) {
    this.file = file;
    const img = $("dream-photo");
    img.src = URL.createObjectURL(file);
    img.hidden = false;
    $("dream-drop-text").textContent = file.name;
    $("dream-go").disabled = false;
  }

  async start() {
    if (!this.file) return;
    this.end();
    const form = new FormData();
    form.append("image", this.file, this.file.name);
    form.append("layer", $("dream-layer").value);
    form.append("map", $("dream-map").value.trim());
    form.append("iters", $("dream-iters").value);
    form.append("model", $("dream-model").value || "main");
    $("dream-error").hidden = true;
    $("dream-rounds").innerHTML = "";
    $("dream-result").hidden = true;
    $("dream-progress").hidden = false;
    $("dream-progress").firstElementChild.style.width = "0%";
    let job;
    try {
      job = await postForm("/api/dream", form);
    } catch (e) {
      return this.fail(e.message);
    }
    $("dream-stop").hidden = false;
    this.stop = follow(job, {
      round: (r) => this.round(r),
      progress: (p) => ($("dream-progress").firstElementChild.style.width = `${100 * p.fraction}%`),
      done: (d) => this.done(d.result),
      failed: (d) => this.fail(d.error),
      cancelled: () => this.end(),
    });
  }

  round(r) {
    const f = document.createElement("figure");
    const a = (v) => Number(v).toPrecision(3);
    f.innerHTML = `<img src="${r.image}" alt="round ${r.round}"><figcaption>round ${r.round}` +
      ` (${r.colour ? "colour" : "luminance"}) · activation ${a(r.activation_start)} → ${a(r.activation_end)}</figcaption>`;
    $("dream-rounds").appendChild(f);
  }

  done(r) {
    this.end();
    $("dream-progress").firstElementChild.style.width = "100%";
    $("dream-result").hidden = false;
    $("dream-final").src = r.image_url;
    const a = $("dream-download");
    a.href = r.image_url;
    a.download = `dream-${r.objective}.png`.replace(/[^A-Za-z0-9_.-]+/g, "_");
  }

  fail(msg) {
    this.end();
    $("dream-error").textContent = msg;
    $("dream-error").hidden = false;
  }

  end() {
    if (this.stop) this.stop();
    this.stop = null;
    $("dream-stop").hidden = true;
  }
}
