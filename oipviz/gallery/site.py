"""The layer gallery: a static site in one folder, viewable offline (``index.html``).

Phases, each resumable (its results are kept under ``data/``):

1. **data**: the real digits (``mnist_digits(split='all')``) go once through a feature
   sub-model of all the gallery's layers (and the output layer), in batches.  A map's
   *activation* on a digit is the spatial mean of its output.  Kept: every digit's
   activation per map, the top-9 digits per map with their activation maps, the
   predictions.
2. **OIPs**: all maps × inits of a layer in ONE :func:`oipviz.oip.oip` call.
3. **precursor** for the maps no random init woke: the forward screen ranks every
   3×3 pattern for all those maps in one pass and the best few per map are refined in
   one batched ascent (or the per-map ``halving``/``exhaustive`` screens of
   :mod:`oipviz.precursor`).
4. **compare** (optional): the same layer of another model, one ``oip`` call.
5. **pages**: one page per map, written in batches; each finished map is recorded in
   ``manifest.json`` and ``index.html`` is rewritten after every batch.

The folder is built in place with a ``.incomplete`` marker until everything is done:
Ctrl-C keeps the finished maps and a valid index, ``resume=True`` computes only what is
missing and the same seed gives the same images.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import LayerError, ModelError, OutputError
from ..inits import DEFAULT_SCALE_WEIGHTS
from ..manifest import base_manifest
from ..outputs import check_target, write_json
from ..render import contact_sheet, enhance, normalize
from ..versions import file_sha256
from . import html as H
from .figures import png

MARKER = ".incomplete"
KIND = "gallery"
TOP_K = 9
PAGE_BATCH = 16
DATA_SEED = 0
DEAD_EPS = 1e-6
#: the gallery's precursor: the fast forward screen and a short refinement
PRECURSOR_DEFAULTS = {"screen": "forward", "grid": 3, "values": [0.2, 0.5, 0.8], "test_epochs": 10,
                      "top": 2, "epochs": 200, "lr": 0.02}
ACTIVATION_NOTE = ("A map's activation is the spatial mean of its output (after the layer's "
                   "activation function, e.g. ReLU) over all its positions: the quantity the "
                   "OIPs maximize. Data statistics use every digit of the offline set.")

Progress = Callable[[str, int, int], None]


@dataclass
class GalleryResult:
    """What :func:`build_gallery` did."""

    out: Path
    complete: bool
    counts: dict                     # layer -> {"live": n, "rescued": n, "dead": n, "pending": n}
    written: list = field(default_factory=list)   # (layer, map) pages written by this run
    seconds: dict = field(default_factory=dict)   # phase -> wall time of this run


# ----------------------------------------------------------------------------- checks

def gallery_layers(loaded, layer: str | None = None, all_layers: bool = False) -> list[str]:
    """The conv layers a gallery shows (``layer``, all of them, or by default the last).

    Raises a one-line error for a model without conv layers or a non-conv layer.
    """
    convs = loaded.conv_layers()
    if not convs:
        names = ", ".join(i.name for i in loaded.layers if i.units is not None) or "none"
        raise ModelError(f"{loaded.name} has no conv layer (layers with units: {names}); "
                         "galleries show the maps of conv layers")
    if all_layers:
        return [c.name for c in convs]
    info = loaded.layer(layer) if layer else convs[-1]
    if not info.is_conv:
        raise LayerError(f"layer {info.name!r} is a {info.type} layer; the gallery needs a conv "
                         f"layer: {', '.join(c.name for c in convs)}")
    return [info.name]


def default_out(layers: list[str], all_layers: bool = False) -> Path:
    """``gallery_<layer>`` (or ``gallery_all`` for all conv layers)."""
    return Path("gallery_all" if all_layers or len(layers) > 1 else f"gallery_{layers[0]}")


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def _read_manifest(out: Path) -> dict | None:
    try:
        m = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) and m.get("kind") == KIND else None


def prepare_target(out: Path, params: dict, model_sha: str, seed: int, resume: bool,
                   force: bool) -> dict | None:
    """Check the output folder; returns the existing manifest when resuming.

    An existing folder is refused without ``resume``/``force``; ``force`` replaces only
    an oipviz gallery (or an empty folder); ``resume`` needs the same parameters.
    """
    out = Path(out)
    check_target(out, force, resume)
    if not out.exists():
        return None
    if not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder")
    old = _read_manifest(out)
    if resume and not force:
        if old is None:
            raise OutputError(f"cannot --resume {out}: no gallery manifest.json in it; "
                              "use --force to replace it")
        diffs = []
        if old.get("model", {}).get("sha256") != model_sha:
            diffs.append("model file differs")
        if old.get("seed") != seed:
            diffs.append(f"seed {old.get('seed')} → {seed}")
        oldp = old.get("parameters", {})
        for k in sorted(set(oldp) | set(params)):
            if oldp.get(k) != params.get(k):
                diffs.append(f"{k} {json.dumps(oldp.get(k))} → {json.dumps(params.get(k))}")
        if diffs:
            raise OutputError(f"cannot --resume {out}: it was made with other settings ("
                              + "; ".join(diffs)[:300] + "); use --force to rebuild it")
        return old
    # force: replace, but only something that is ours (or empty)
    if old is None and any(out.iterdir()):
        raise OutputError(f"refusing to replace {out}: it is not an oipviz gallery "
                          "(no gallery manifest.json); remove it yourself or choose another --out")
    return None


# ----------------------------------------------------------------------------- data phase

def dataset_activations(loaded, layers: list[str], x01: np.ndarray, top_k: int = TOP_K,
                        batch: int = 1000, progress: Callable[[int], None] | None = None) -> dict:
    """One batched forward pass of a feature sub-model over all digits ``x01``.

    Returns per layer ``acts`` (N,M) spatial means, ``top_idx`` (M,k) digits with the
    highest activation per map (ties: lower index first), ``top_acts`` (M,k) and
    ``top_maps`` (M,k,h,w) their activation maps; and ``pred``/``prob`` (N,) from the
    model's output layer.
    """
    import tensorflow as tf

    last = loaded.layers[-1].name
    heads = list(layers) + ([last] if last not in layers else [])
    model = loaded.engine_model(heads)
    forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                          input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)])
    N = len(x01)
    out: dict = {}
    state = {}
    probs = []
    for lo in range(0, N, batch):
        z = loaded.convention.to_engine(x01[lo:lo + batch])
        ys = forward(tf.constant(z))
        ys = [_numpy(y) for y in (ys if isinstance(ys, (list, tuple)) else [ys])]
        for name, y in zip(layers, ys):
            means = y.mean(axis=(1, 2))                                   # (B,M)
            B, M = means.shape
            st = state.setdefault(name, {"acts": [], "vals": np.full((0, M), -np.inf, np.float32),
                                         "idx": np.zeros((0, M), np.int64),
                                         "maps": np.zeros((0, M) + y.shape[1:3], np.float32)})
            st["acts"].append(means.astype(np.float32))
            vals = np.concatenate([st["vals"], means.astype(np.float32)])
            idx = np.concatenate([st["idx"], np.broadcast_to(np.arange(lo, lo + B)[:, None], (B, M))])
            maps = np.concatenate([st["maps"], np.moveaxis(y, -1, 1).astype(np.float32)])
            order = np.argsort(-vals, axis=0, kind="stable")[:top_k]       # (k,M)
            cols = np.arange(M)[None, :]
            st["vals"], st["idx"], st["maps"] = vals[order, cols], idx[order, cols], maps[order, cols]
        probs.append(ys[len(layers)] if last not in layers else ys[layers.index(last)])
        if progress:
            progress(len(z))
    from .activations import probabilities

    p = probabilities(np.concatenate(probs).reshape(N, -1))
    out["pred"] = p.argmax(axis=1)
    out["prob"] = p.max(axis=1)
    for name, st in state.items():
        out[name] = {"acts": np.concatenate(st["acts"]), "top_idx": st["idx"].T.copy(),
                     "top_acts": st["vals"].T.copy(), "top_maps": np.swapaxes(st["maps"], 0, 1).copy()}
    return out


def selectivity(acts: np.ndarray, labels: np.ndarray, n_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Mean activation per class: ((n_classes, M), class counts)."""
    counts = np.bincount(labels, minlength=n_classes)[:n_classes]
    sums = np.zeros((n_classes, acts.shape[1]), np.float64)
    np.add.at(sums, labels, acts.astype(np.float64))
    return sums / np.maximum(counts, 1)[:, None], counts


# ----------------------------------------------------------------------------- precursor phase

def batched_precursor(loaded, layer: str, maps: list[int], params: dict, seed: int,
                      progress: Callable[[int], None] | None = None) -> dict:
    """Precursor for several maps; returns arrays keyed by name (``maps``, ``best_image``,
    ``best_value``, ``pattern_index`` (D,top), ``screen_value``, ``final``, ``images``).

    ``forward``: one forward pass ranks all patterns for all maps, the top patterns of
    every map are refined together in one ascent.  ``halving``/``exhaustive``: the
    per-map screens of :func:`oipviz.precursor.precursor_maps`.
    """
    from ..ascent import ascend
    from ..inits import precursor_patterns
    from ..oip import objective_for
    from ..precursor import check_params, forward_table, precursor_maps, rank

    p = params
    top, epochs = int(p["top"]), int(p["epochs"])
    D = len(maps)
    if p["screen"] == "forward":
        vals, n = check_params(p["grid"], p["values"], top, p["test_epochs"], epochs, p["lr"],
                               "forward", 2048)
        idx = np.arange(n, dtype=np.int64)
        table = forward_table(loaded, layer, maps, idx, p["grid"], vals, 2048, progress)
        tops = np.stack([rank(table[:, j], top) for j in range(D)])          # (D,top)
        screen_vals = np.take_along_axis(table, tops.T, axis=0).T              # (D,top)
        x0 = precursor_patterns(tops.ravel(), p["grid"], vals).reshape(D, top, 28, 28)
        images, final = x0.copy(), np.zeros((D, top), np.float32)
        # a map that is exactly 0 on every pattern (ReLU off everywhere) has no gradient
        # to follow: the ascent could not move it, so it is not refined (stays dead)
        zero = np.all(table == 0.0, axis=0)
        live = np.flatnonzero(~zero)
        if len(live):
            objs = [objective_for(loaded, layer, maps[j]) for j in live for _ in range(top)]
            r = ascend(loaded, x0[live].reshape(-1, 28, 28, 1), objs, steps=epochs, lr=p["lr"],
                       seed=seed, progress=progress)
            if r.interrupted:
                raise KeyboardInterrupt
            images[live] = r.images.reshape(len(live), top, 28, 28)
            final[live] = r.final.reshape(len(live), top)
        if progress:
            progress(int(zero.sum()) * top * epochs)
    else:
        tops, screen_vals, images, final = [], [], [], []
        for res in precursor_maps(layer, maps, loaded, grid=p["grid"], values=p["values"],
                                  test_epochs=p["test_epochs"], top=top, epochs=epochs,
                                  lr=p["lr"], seed=seed, screen=p["screen"], progress=progress):
            tops.append(res.top_indices)
            screen_vals.append(res.top_losses)
            images.append(res.images[..., 0])
            final.append(res.final)
        tops, screen_vals = np.stack(tops), np.stack(screen_vals)
        images, final = np.stack(images), np.stack(final)
        zero = np.zeros(D, bool)
    best = final.argmax(axis=1)
    return {"maps": np.asarray(maps), "pattern_index": tops, "screen_value": screen_vals,
            "zero_on_all_patterns": zero,
            "images": images.astype(np.float32), "final": final.astype(np.float32),
            "best_image": images[np.arange(D), best].astype(np.float32),
            "best_value": final[np.arange(D), best].astype(np.float32)}


# ----------------------------------------------------------------------------- the site

class Site:
    """Everything the pages need, plus the manifest that records progress."""

    def __init__(self, out: Path, loaded, layers: list[str], maps: dict, params: dict, seed: int,
                 manifest: dict, compare=None, progress: Progress | None = None):
        self.out, self.loaded, self.layers, self.maps = out, loaded, layers, maps
        self.params, self.seed, self.manifest, self.compare = params, seed, manifest, compare
        self.progress = progress
        self.data: dict = {}
        self.x01 = self.labels = None
        self.oip: dict = {}
        self.prec: dict = {}
        self.cmp: dict = {}
        self.sel: dict = {}
        self.pred = self.prob = None
        self._plotter = None

    # -- bookkeeping
    def tick(self, stage: str, total: int) -> Callable[[int], None]:
        if not self.progress:
            return lambda n: None
        return lambda n: self.progress(stage, int(n), int(total))

    def entry(self, layer: str, m: int) -> dict:
        return self.manifest["layers"][layer]["maps"].setdefault(str(m), {"map": m, "done": False})

    def map_dir(self, layer: str, m: int) -> Path:
        return self.out / layer / f"map_{m:03d}"

    def page_name(self, layer: str, m: int) -> str:
        return f"{layer}/map_{m:03d}.html"

    def is_done(self, layer: str, m: int) -> bool:
        e = self.manifest["layers"][layer]["maps"].get(str(m))
        if not e or not e.get("done"):
            return False
        return all((self.out / f).exists() for f in e.get("files", [])) and \
            (self.out / self.page_name(layer, m)).exists()

    def save_manifest(self, pretty: bool = False) -> None:
        """Write manifest.json atomically (compact while pages are written: it is rewritten
        after every map; indented at the end)."""
        if pretty:
            write_json(self.out / "manifest.json", self.manifest)
        else:
            H.write_text(self.out / "manifest.json",
                         json.dumps(self.manifest, separators=(",", ":"), default=_json_default))

    # -- phase 1
    def load_data(self) -> None:
        from ..data import mnist_digits

        limit = self.params["examples"]["data_limit"]
        x01, labels, source = mnist_digits(limit, seed=DATA_SEED, split="all")
        self.x01, self.labels = x01, labels
        d = self.out / "data"
        d.mkdir(exist_ok=True)
        self.manifest["data"] = {"source": source, "digits": int(len(x01)), "split": "all",
                                 "seed": DATA_SEED, "activation": ACTIVATION_NOTE}
        files = {name: d / f"{name}_examples.npz" for name in self.layers}
        have = (d / "predictions.npz").exists() and all(f.exists() for f in files.values())
        if have:
            try:
                with np.load(d / "predictions.npz") as f:
                    self.pred, self.prob = f["pred"], f["prob"]
                for name, f in files.items():
                    with np.load(f) as z:
                        self.data[name] = {k: z[k] for k in z.files}
                if all(len(v["acts"]) == len(x01) for v in self.data.values()) and len(self.pred) == len(x01):
                    return
            except Exception:  # a damaged file (e.g. killed while writing): recompute
                self.data = {}
        res = dataset_activations(self.loaded, self.layers, x01, TOP_K,
                                  progress=self.tick("digits through the model", len(x01)))
        self.pred, self.prob = res["pred"], res["prob"]
        for name in self.layers:
            self.data[name] = res[name]
            _save_npz(files[name], res[name])
        _save_npz(d / "predictions.npz", {"pred": self.pred, "prob": self.prob, "labels": labels})

    # -- phase 2
    def run_oips(self, layer: str, needed: list[int]) -> None:
        from ..oip import oip

        path = self.out / "data" / f"{layer}_oip.npz"
        have = _load_npz(path)
        if have is not None and set(needed) <= set(have["maps"].tolist()):
            self.oip[layer] = have
            return
        p = self.params
        total = len(needed) * p["inits"] * p["epochs"]
        run = oip(layer, needed, self.loaded, inits=p["inits"], epochs=p["epochs"], lr=p["lr"],
                  seed=self.seed, scale_weights=tuple(p["scale_weights"]),
                  progress=self.tick(f"{layer}: OIPs of {len(needed)} maps × {p['inits']} inits", total))
        if run.interrupted:
            raise KeyboardInterrupt
        arrays = {"maps": np.asarray(run.maps), "images": run.images[..., 0].astype(np.float32),
                  "start": run.start.astype(np.float32), "final": run.final.astype(np.float32),
                  "steps_done": np.asarray(run.steps_done)}
        _save_npz(path, arrays)
        self.oip[layer] = arrays

    # -- phase 3
    def run_precursor(self, layer: str, needed: list[int]) -> None:
        o = self.oip[layer]
        row = {m: i for i, m in enumerate(o["maps"].tolist())}
        dead = [m for m in needed if o["final"][row[m]].max() <= DEAD_EPS]
        pp = self.params["precursor"]
        if not dead or pp is None:
            return
        path = self.out / "data" / f"{layer}_precursor.npz"
        have = _load_npz(path)
        if have is not None and set(dead) <= set(have["maps"].tolist()):
            self.prec[layer] = have
            return
        from ..precursor import work

        n = len(pp["values"]) ** (pp["grid"] ** 2)
        total = work(n, len(dead), pp["screen"], pp["test_epochs"], pp["top"], pp["epochs"])
        res = batched_precursor(self.loaded, layer, dead, pp, self.seed,
                                self.tick(f"{layer}: precursor for {len(dead)} dead maps", total))
        _save_npz(path, res)
        self.prec[layer] = res

    # -- phase 4
    def run_compare(self, layer: str) -> None:
        if self.compare is None:
            return
        from ..oip import oip

        info = self.compare.layer(layer)
        path = self.out / "data" / f"{layer}_compare.npz"
        have = _load_npz(path)
        if have is None:
            p = self.params
            total = info.units * p["inits"] * p["epochs"]
            run = oip(info.name, None, self.compare, inits=p["inits"], epochs=p["epochs"], lr=p["lr"],
                      seed=self.seed, scale_weights=tuple(p["scale_weights"]),
                      progress=self.tick(f"{layer}: OIPs of {self.compare.name}", total))
            if run.interrupted:
                raise KeyboardInterrupt
            have = {"maps": np.asarray(run.maps), "best_image": run.best_images.astype(np.float32),
                    "best_value": run.best_values.astype(np.float32)}
            _save_npz(path, have)
        self.cmp[layer] = have
        cdir = self.out / "compare" / layer
        cdir.mkdir(parents=True, exist_ok=True)
        for m, img in zip(have["maps"].tolist(), have["best_image"]):
            p = cdir / f"map_{m:03d}.png"
            if not p.exists():
                png(p, normalize(img), "viridis", scale=3)
        status = ["live" if v > DEAD_EPS else "dead" for v in have["best_value"]]
        sheet = self.out / "compare" / f"{layer}_other.png"
        if not sheet.exists():
            tmp = sheet.with_name(f".{sheet.stem}.tmp.png")
            contact_sheet([normalize(i) for i in have["best_image"]], [str(m) for m in have["maps"]],
                          tmp, status=status, cell=56,
                          cols=min(16, len(status)), title=f"{self.compare.name}: {layer}")
            tmp.replace(sheet)
        self.manifest["compare"][layer] = {
            "model": str(self.compare.path), "maps": len(status), "live": status.count("live"),
            "dead": status.count("dead"),
            "best_activation": [float(v) for v in have["best_value"]]}

    # -- results per map
    def best_of(self, layer: str, m: int) -> tuple[str, np.ndarray, float]:
        """(status, best image (28,28) engine space, its activation) of a map."""
        o = self.oip[layer]
        i = o["maps"].tolist().index(m)
        v = float(o["final"][i].max())
        if v > DEAD_EPS:
            return "live", o["images"][i, int(o["final"][i].argmax())], v
        pr = self.prec.get(layer)
        if pr is not None and m in pr["maps"].tolist():
            j = pr["maps"].tolist().index(m)
            pv = float(pr["best_value"][j])
            if pv > DEAD_EPS:
                return "rescued", pr["best_image"][j], pv
            return "dead", pr["best_image"][j], pv
        return "dead", o["images"][i, 0], v

    def layer_sheet(self, layer: str) -> None:
        """``<layer>/sheet.png``: the best OIP (or precursor) of every map, with status."""
        path = self.out / layer / "sheet.png"
        maps = self.maps[layer]
        got = [self.best_of(layer, m) for m in maps]
        tmp = path.with_name(".sheet.tmp.png")   # its presence marks the phase as done
        contact_sheet([normalize(g[1]) for g in got], [str(m) for m in maps], tmp,
                      status=[g[0] for g in got], cell=56, cols=min(16, len(maps)),
                      title=f"{self.loaded.name}: {layer}")
        tmp.replace(path)

    # -- phase 5
    def write_map(self, layer: str, m: int) -> None:
        """Write map ``m``'s images and page, then record it as done."""
        from .figures import StatsPlotter, overlay, tile_grid

        if self._plotter is None:
            self._plotter = StatsPlotter()
        d = self.map_dir(layer, m)
        d.mkdir(parents=True, exist_ok=True)
        files: list[str] = []

        def add(p: Path) -> str:
            name = p.relative_to(self.out).as_posix()
            files.append(name)
            return p.name

        status, best_img, best_val = self.best_of(layer, m)
        o = self.oip[layer]
        i = o["maps"].tolist().index(m)
        start, final = o["start"][i], o["final"][i]
        best_init = int(final.argmax())
        # OIPs of every init, the best in gray and contrast-enhanced
        for k, img in enumerate(o["images"][i]):
            add(png(d / f"oip_init{k}.png", normalize(img)))
        add(png(d / "oip_best_gray.png", normalize(o["images"][i, best_init]), "gray"))
        add(png(d / "oip_best_enhanced.png", enhance(o["images"][i, best_init])))
        np.save(d / "oips.npy", o["images"][i])
        add(d / "oips.npy")
        # precursor
        prec_entry = None
        pr = self.prec.get(layer)
        if pr is not None and m in pr["maps"].tolist():
            j = pr["maps"].tolist().index(m)
            z = pr["best_image"][j]
            add(png(d / "precursor_viridis.png", normalize(z)))
            add(png(d / "precursor_gray.png", normalize(z), "gray"))
            add(png(d / "precursor_enhanced.png", enhance(z)))
            np.save(d / "precursor.npy", z)
            add(d / "precursor.npy")
            prec_entry = {"value": float(pr["best_value"][j]),
                          "status": "rescued" if pr["best_value"][j] > DEAD_EPS else "dead",
                          "zero_on_all_patterns": bool(pr["zero_on_all_patterns"][j])
                          if "zero_on_all_patterns" in pr else False,
                          "candidates": [{"pattern_index": int(a), "screen_value": float(b),
                                          "refined": float(c)} for a, b, c in
                                         zip(pr["pattern_index"][j], pr["screen_value"][j], pr["final"][j])]}
        thumb = f"map_{m:03d}/" + ("precursor_viridis.png" if prec_entry is not None
                                   else f"oip_init{best_init}.png")
        # dataset examples
        dat = self.data[layer]
        col = m
        acts = dat["acts"][:, col]
        tidx, tacts, tmaps = dat["top_idx"][col], dat["top_acts"][col], dat["top_maps"][col]
        vmax = float(tmaps.max())
        tiles = overlay(self.x01[tidx, :, :, 0], tmaps, vmax if vmax > 0 else 1.0)
        caps = [f"#{r + 1} {self.labels[t]}: {a:.3g}" for r, (t, a) in enumerate(zip(tidx, tacts))]
        ew, eh = tile_grid(tiles, caps, d / "examples.png", cols=3, scale=4)
        add(d / "examples.png")
        sel, counts = self.sel[layer]
        threshold = float(tacts.min())
        self._plotter.save(d / "stats.png", acts, sel[:, col], max(threshold, 0.0), best_val)
        add(d / "stats.png")
        sw, sh = self._plotter.size
        cmp_entry = None
        cm = self.cmp.get(layer)
        if cm is not None and m in cm["maps"].tolist():
            j = cm["maps"].tolist().index(m)
            cv = float(cm["best_value"][j])
            cmp_entry = {"value": cv, "status": "live" if cv > DEAD_EPS else "dead"}
        examples = [{"rank": r + 1, "index": int(t), "label": int(self.labels[t]),
                     "prediction": int(self.pred[t]), "probability": float(self.prob[t]),
                     "activation": float(a)} for r, (t, a) in enumerate(zip(tidx, tacts))]
        entry = self.entry(layer, m)
        entry.update({
            "status": status, "activation": best_val, "thumbnail": f"{layer}/{thumb}",
            "oip": {"start": [float(v) for v in start], "final": [float(v) for v in final],
                    "best_init": best_init, "best": float(final.max())},
            "precursor": prec_entry, "compare": cmp_entry,
            "data": {"mean": float(acts.mean()), "max": float(acts.max()),
                     "frac_zero": float((acts <= 0).mean()), "top_threshold": threshold},
            "examples": examples, "selectivity": [float(v) for v in sel[:, col]],
            "preferred_class": int(sel[:, col].argmax()) if sel[:, col].max() > 0 else None,
        })
        page = self._map_page(layer, m, entry, (ew, eh), (sw, sh), counts)
        H.write_text(self.out / self.page_name(layer, m), page)
        files.append(self.page_name(layer, m))
        entry["files"] = files
        entry["done"] = True

    def _map_page(self, layer, m, e, ex_size, st_size, counts) -> str:
        p = self.params
        name = f"map_{m:03d}"
        o = e["oip"]
        figs = []
        for k, (s, f) in enumerate(zip(o["start"], o["final"])):
            best = " <b>best</b>" if k == o["best_init"] else ""
            figs.append(f'<figure><img src="{name}/oip_init{k}.png" width="112" height="112" '
                        f'alt="OIP of init {k}"><figcaption>init {k}: {H.fmt(s)} → {H.fmt(f)}'
                        f'{best}</figcaption></figure>')
        for tag, label in (("gray", "best, gray"), ("enhanced", "best, contrast-enhanced")):
            figs.append(f'<figure><img src="{name}/oip_best_{tag}.png" width="112" height="112" '
                        f'alt="best OIP ({label})"><figcaption>{label}</figcaption></figure>')
        prec = ""
        pe = e["precursor"]
        if pe is not None:
            pp = p["precursor"]
            cands = ", ".join(f"pattern {c['pattern_index']}: {H.fmt(c['screen_value'])} → "
                              f"{H.fmt(c['refined'])}" for c in pe["candidates"])
            prec = (f'<h2>Precursor <span class="badge {pe["status"]}">{pe["status"]}</span></h2>\n'
                    f'<p class="note">No random init moved this map above 0, so the precursor '
                    f'searched all {len(pp["values"]) ** (pp["grid"] ** 2):,} coarse '
                    f'{pp["grid"]}×{pp["grid"]} patterns of the grey values '
                    f'{", ".join(str(v) for v in pp["values"])} ({H.esc(pp["screen"])} screen) and '
                    f'refined the best {pp["top"]} for {pp["epochs"]} steps. ' + (
                        "The map is exactly 0 on every one of these patterns, so there is no "
                        "gradient to follow and nothing to refine." if pe["zero_on_all_patterns"]
                        else f"{H.esc(cands)}.") + '</p>\n'
                    '<div class="row">' + "".join(
                        f'<figure><img src="{name}/precursor_{t}.png" width="112" height="112" '
                        f'alt="precursor result ({t})"><figcaption>{t}: {H.fmt(pe["value"])}'
                        '</figcaption></figure>' for t in ("viridis", "gray", "enhanced")) + "</div>")
        cmp_html = ""
        ce = e["compare"]
        if ce is not None:
            cmp_html = (f'<h2>Compared with {H.esc(self.compare.name)}</h2>\n<div class="row">'
                        f'<figure><img src="{e["thumbnail"].split("/", 1)[1]}" width="84" height="84" alt="this model">'
                        f'<figcaption>{H.esc(self.loaded.name)}: {H.fmt(e["activation"])} '
                        f'({e["status"]})</figcaption></figure>'
                        f'<figure><img src="../compare/{layer}/{name}.png" width="84" height="84" '
                        f'alt="other model"><figcaption>{H.esc(self.compare.name)}: '
                        f'{H.fmt(ce["value"])} ({ce["status"]})</figcaption></figure></div>'
                        f'<p><a href="../compare/{layer}.html">both layers side by side</a></p>')
        ex_rows = [(x["rank"], x["index"], x["label"], f'{x["prediction"]} ({x["probability"]:.0%})',
                    H.fmt(x["activation"])) for x in e["examples"]]
        d = e["data"]
        if d["max"] <= 0:
            ex_note = (f"This map is 0 on every one of the {len(self.x01):,} digits, so the "
                       "'top' digits below are arbitrary.")
        else:
            ex_note = (f"The {TOP_K} digits (of {len(self.x01):,}) with the highest activation, "
                       f"ranked. Activation = spatial mean of the map.")
        sel = e["selectivity"]
        pc = e["preferred_class"]
        sel_rows = [(c, counts[c], H.fmt(v)) for c, v in enumerate(sel)]
        others = (sum(sel) - sel[pc]) / max(len(sel) - 1, 1) if pc is not None else 0
        if pc is None:
            pref = "it does not respond to any class"
        else:
            ratio = f"{sel[pc] / others:.2g}× the mean of the other classes" if others > 0 else \
                "the other classes give 0"
            pref = f"it prefers class {pc} (mean {H.fmt(sel[pc])}, {ratio})"
        summary = (f"{'Best OIP' if e['status'] == 'live' else 'Best pattern'} activation "
                   f"{H.fmt(e['activation'])}. Over the data: mean {H.fmt(d['mean'])}, max "
                   f"{H.fmt(d['max'])}, zero on {d['frac_zero']:.0%} of the digits; {pref}.")
        info = self.loaded.layer(layer)
        return H.render(
            "map.html", title=H.esc(f"{layer} map {m}"), status=e["status"], summary=summary,
            name=H.esc(f"{layer} map {m}"),
            oip_note=H.esc(f"{p['inits']} random multi-scale inits, {p['epochs']} gradient-ascent "
                           f"steps each (lr {p['lr']}, seed {self.seed}); start → reached activation. "
                           f"{info.name} maps are {info.shape[1]}×{info.shape[2]}."),
            oips="\n".join(figs), precursor=prec, compare=cmp_html,
            examples_note=H.esc(ex_note), examples_png=f"{name}/examples.png",
            examples_w=ex_size[0], examples_h=ex_size[1],
            examples_table=H.table(ex_rows, ("#", "digit index", "label", "model says", "activation"),
                                   numeric={0, 1, 4}),
            stats_png=f"{name}/stats.png", stats_w=st_size[0], stats_h=st_size[1],
            stats_caption=H.esc("Left: how many digits reach each activation (digits at 0 left "
                                "out; orange line: the top-9 threshold). Right: mean activation "
                                "per true class (orange: the preferred class)."),
            selectivity_table=H.table(sel_rows, ("class", "digits", "mean activation"),
                                      numeric={0, 1, 2}),
            npy_links=f'<a href="{name}/oips.npy">oips.npy</a> (all inits, engine space)')

    # -- index
    def counts(self) -> dict:
        out = {}
        for layer in self.layers:
            c = {"live": 0, "rescued": 0, "dead": 0, "pending": 0}
            for m in self.maps[layer]:
                e = self.manifest["layers"][layer]["maps"].get(str(m), {})
                c[e.get("status", "pending") if e.get("done") else "pending"] += 1
            out[layer] = c
        return out

    def write_index(self) -> None:
        """index.html (and the compare pages) from the manifest: finished maps link to
        their pages, the others show as pending."""
        for layer in self.layers:
            self.write_compare_page(layer)
        loaded, p = self.loaded, self.params
        counts = self.counts()
        done = sum(sum(v for k, v in c.items() if k != "pending") for c in counts.values())
        total = sum(len(v) for v in self.maps.values())
        complete = self.manifest.get("complete", False)
        if complete:
            banner = (f'<div class="banner complete">Complete: {total} map(s).</div>')
        else:
            banner = (f'<div class="banner incomplete">Incomplete: {done} of {total} map pages done. '
                      f'Continue with <code>{H.esc(self.resume_command())}</code>.</div>')
        card = loaded.card or {}
        rows = [("file", loaded.name), ("sha256", self.manifest["model"]["sha256"][:16] + "…"),
                ("input", loaded.convention.describe())]
        if card:
            rows += [("architecture", card.get("architecture", "?")),
                     ("trained on", f"{card.get('dataset', '?')} ({card.get('data_source', '?')})"),
                     ("held-out accuracy", f"{card['heldout_accuracy']:.2%}"
                      if isinstance(card.get("heldout_accuracy"), (int, float)) else "?"),
                     ("epochs", card.get("epochs", "?"))]
            pca = card.get("per_class_accuracy")
            if isinstance(pca, dict):
                rows.append(("per class (%)", " ".join(f"{k}:{100 * float(v):.0f}" for k, v in pca.items())))
        else:
            rows.append(("card", "none (no NAME.card.json beside the model)"))
        rows.append(("conv layers", ", ".join(f"{c.name} {c.units}×{c.shape[1]}×{c.shape[2]}"
                                              for c in loaded.conv_layers())))
        confusion = ""
        if (self.out / "model_confusion.png").exists():
            confusion = ('<div class="card"><h3>Confusion matrix</h3><img src="model_confusion.png" '
                         'width="200" alt="confusion matrix of the model on held-out digits" '
                         'class="smooth"></div>')
        pp = p["precursor"]
        prows = [("layers", ", ".join(self.layers)),
                 ("OIPs", f"{p['inits']} inits × {p['epochs']} steps, lr {p['lr']}, seed {self.seed}"),
                 ("precursor", "off" if pp is None else
                  f"{pp['screen']} screen of {len(pp['values']) ** (pp['grid'] ** 2):,} patterns, "
                  f"top {pp['top']} refined {pp['epochs']} steps"),
                 ("data", f"{self.manifest.get('data', {}).get('digits', '?')} digits from "
                          f"{self.manifest.get('data', {}).get('source', '?')}")]
        if self.compare is not None:
            prows.append(("compared with", self.compare.name))
        sections = []
        for layer in self.layers:
            c = counts[layer]
            info = loaded.layer(layer)
            tiles = []
            for m in self.maps[layer]:
                e = self.manifest["layers"][layer]["maps"].get(str(m), {})
                if e.get("done"):
                    st = e["status"]
                    tiles.append(f'<a class="tile {st}" href="{layer}/map_{m:03d}.html" title="{layer} map {m}: '
                                 f'{st}, {H.fmt(e.get("activation", 0))}"><img src="{e["thumbnail"]}" '
                                 f'width="84" height="84" alt="map {m}"><span class="cap"><span>{m}</span>'
                                 f'<span class="badge {st}">{st}</span></span></a>')
                else:
                    tiles.append(f'<div class="tile"><div class="ph"></div><span class="cap"><span>{m}'
                                 '</span><span class="badge">pending</span></span></div>')
            extra = []
            if (self.out / layer / "sheet.png").exists():
                extra.append(f'<a href="{layer}/sheet.png">contact sheet (PNG)</a>')
            if (self.out / "compare" / f"{layer}.html").exists():
                extra.append(f'<a href="compare/{layer}.html">side by side with '
                             f'{H.esc(self.compare.name if self.compare else "the other model")}</a>')
            sections.append(
                f'<h2 id="{layer}">{layer}: {len(self.maps[layer])} of {info.units} maps '
                f'({info.shape[1]}×{info.shape[2]})</h2>\n<p>'
                + " · ".join(f'<span class="badge {k if k != "pending" else ""}">{k}</span> {v}'
                             for k, v in c.items() if v or k != "pending")
                + (" · " + " · ".join(extra) if extra else "") + "</p>\n"
                '<div class="sheet">\n' + "\n".join(tiles) + "\n</div>")
        from .. import __version__

        page = H.render("index.html", title=H.esc(f"oipviz gallery: {loaded.name}, {', '.join(self.layers)}"),
                        banner=banner, model_table=H.table(rows), params_table=H.table(prows),
                        confusion=confusion, activation_note=H.esc(ACTIVATION_NOTE),
                        layers="\n".join(sections), version=__version__)
        H.write_text(self.out / "index.html", page)

    def record_status(self, layer: str) -> None:
        """Status and best activation of every computed map into the manifest (pending
        maps too: the compare page and the summary need them before the pages exist)."""
        for m in self.oip[layer]["maps"].tolist():
            if m in self.maps[layer]:
                st, _, v = self.best_of(layer, m)
                e = self.entry(layer, m)
                e["status"], e["activation"] = st, v

    def write_compare_page(self, layer: str) -> None:
        """``compare/<layer>.html``: both models' OIPs of the layer side by side (tiles of
        this model link to its map pages once they exist)."""
        if self.compare is None or layer not in self.cmp:
            return
        entries = self.manifest["layers"][layer]["maps"]
        a = [entries.get(str(m), {}) for m in self.maps[layer]]
        sa = [e.get("status", "pending") for e in a]
        va = np.array([e["activation"] for e in a if "activation" in e] or [0.0])
        b = self.cmp[layer]["best_value"]
        rows = [("maps", len(sa), len(b)),
                ("live (random inits)", sa.count("live"), int((b > DEAD_EPS).sum())),
                ("rescued by the precursor", sa.count("rescued"), "–"),
                ("dead", sa.count("dead"), int((b <= DEAD_EPS).sum())),
                ("median best activation", H.fmt(float(np.median(va))), H.fmt(float(np.median(b))))]
        tiles_a = []
        for m, e in zip(self.maps[layer], a):
            st = e.get("status", "pending")
            if e.get("done"):
                tiles_a.append(f'<a class="tile {st}" href="../{layer}/map_{m:03d}.html"><img src="../'
                               f'{e["thumbnail"]}" width="84" height="84" alt="map {m}"><span class="cap">'
                               f'<span>{m}: {H.fmt(e["activation"])}</span><span class="badge {st}">{st}'
                               '</span></span></a>')
            else:
                tiles_a.append(f'<div class="tile"><div class="ph"></div><span class="cap"><span>{m}</span>'
                               f'<span class="badge">pending</span></span></div>')
        tiles_b = []
        for m, v in zip(self.cmp[layer]["maps"].tolist(), b):
            st = "live" if v > DEAD_EPS else "dead"
            tiles_b.append(f'<div class="tile {st}"><img src="{layer}/map_{m:03d}.png" width="84" '
                           f'height="84" alt="map {m}"><span class="cap"><span>{m}: {H.fmt(v)}</span>'
                           f'<span class="badge {st}">{st}</span></span></div>')
        sheet_a = (f'<a href="../{layer}/sheet.png">contact sheet (PNG)</a>'
                   if (self.out / layer / "sheet.png").exists() else "")
        page = H.render(
            "compare.html", title=H.esc(f"{layer}: {self.loaded.name} vs {self.compare.name}"),
            note=H.esc(f"Best OIP per map of layer {layer} in both models, from the same random "
                       f"inits ({self.params['inits']} per map, {self.params['epochs']} steps, seed "
                       f"{self.seed}); the number is the activation reached. Each OIP is min–max "
                       "scaled. A trained layer has structured patterns, a random one noise-like ones."),
            summary=H.table(rows, ("", self.loaded.name, self.compare.name), numeric={1, 2}),
            name_a=H.esc(self.loaded.name), name_b=H.esc(self.compare.name),
            tiles_a="\n".join(tiles_a), tiles_b="\n".join(tiles_b), sheet_a=sheet_a,
            sheet_b=f"{layer}_other.png")
        (self.out / "compare").mkdir(exist_ok=True)
        H.write_text(self.out / "compare" / f"{layer}.html", page)

    def resume_command(self) -> str:
        cmd = self.manifest.get("command") or "oipviz gallery …"
        if "--resume" not in cmd:
            cmd = cmd.replace(" --force", "") + " --resume"
        return cmd


def _numpy(t) -> np.ndarray:
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _load_npz(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    except Exception:  # damaged (killed while writing): computed again
        return None


def _save_npz(path: Path, arrays: dict) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


# ----------------------------------------------------------------------------- entry point

def gallery_params(layers: list[str], maps: dict, inits: int, epochs: int, lr: float,
                   scale_weights, precursor: dict | None, data_limit: int | None,
                   compare=None) -> dict:
    """The parameters recorded in the manifest (and compared on --resume)."""
    return _jsonable({
        "layers": layers, "maps": maps, "inits": inits, "epochs": epochs, "lr": lr,
        "scale_weights": list(scale_weights), "objective": "mean",
        "precursor": precursor,
        "examples": {"top_k": TOP_K, "data": "oipviz.data.mnist_digits(split='all')",
                     "data_limit": data_limit, "data_seed": DATA_SEED},
        "compare": None if compare is None else {"path": str(compare.path),
                                                 "sha256": file_sha256(compare.path)},
    })


def build_gallery(loaded, layers: list[str] | None = None, out: str | Path | None = None,
                  maps: dict | list | None = None, *, inits: int = 4, epochs: int = 300,
                  lr: float = 0.02, seed: int = 0, scale_weights=DEFAULT_SCALE_WEIGHTS,
                  precursor: dict | None = PRECURSOR_DEFAULTS, data_limit: int | None = 5000,
                  compare=None, resume: bool = False, force: bool = False,
                  progress: Progress | None = None,
                  on_map: Callable[[str, int], None] | None = None) -> GalleryResult:
    """Build (or resume) the static gallery of ``layers`` of ``loaded`` in folder ``out``.

    ``maps``: a list (one layer) or {layer: list} to show a subset; ``precursor``: the
    precursor settings for maps no random init woke (None: off); ``compare``: another
    :class:`~oipviz.loader.LoadedModel` whose same-named layer is shown side by side.
    ``progress(stage, n, total)`` gets work done; ``on_map(layer, m)`` is called after
    each finished map page.  Ctrl-C (KeyboardInterrupt) leaves a valid, resumable site.
    """
    layers = layers or gallery_layers(loaded)
    for name in layers:
        info = loaded.layer(name)
        if not info.is_conv:
            raise LayerError(f"layer {info.name!r} is a {info.type} layer; the gallery needs a conv layer")
    layers = [loaded.layer(n).name for n in layers]
    if maps is None:
        maps = {n: list(range(loaded.layer(n).units)) for n in layers}
    elif not isinstance(maps, dict):
        if len(layers) != 1:
            raise LayerError("a map list needs exactly one layer")
        maps = {layers[0]: list(maps)}
    maps = {n: loaded.check_maps(n, maps.get(n, range(loaded.layer(n).units))) for n in layers}
    if any(not v for v in maps.values()):
        raise LayerError("no maps selected")
    if inits < 1 or epochs < 1:
        raise LayerError("inits and epochs must be at least 1")
    if compare is not None:
        for n in layers:
            try:
                info = compare.layer(n)
            except LayerError:
                raise LayerError(f"--compare model {compare.name} has no layer {n!r}; choose from: "
                                 + ", ".join(c.name for c in compare.conv_layers())) from None
            if not info.is_conv:
                raise LayerError(f"--compare model {compare.name}: layer {n!r} is not a conv layer")
    if precursor is not None:
        from ..precursor import check_params

        precursor = dict(PRECURSOR_DEFAULTS, **precursor)
        check_params(precursor["grid"], precursor["values"], precursor["top"],
                     precursor["test_epochs"], precursor["epochs"], precursor["lr"],
                     precursor["screen"], 2048)
    out = Path(out) if out is not None else default_out(layers)
    params = gallery_params(layers, maps, inits, epochs, lr, scale_weights, precursor, data_limit,
                            compare)
    sha = file_sha256(loaded.path)
    old = prepare_target(out, params, sha, seed, resume, force)
    # ---- from here on the folder is ours
    if out.exists() and old is None:
        shutil.rmtree(out)
    out.mkdir(exist_ok=True)
    (out / MARKER).write_text("this gallery is not finished: resume with --resume\n")
    if old is not None:
        manifest = old
        manifest["complete"] = False
    else:
        manifest = base_manifest(KIND, loaded, params, seed)
        manifest.update(complete=False, layers={n: {"maps": {}} for n in layers}, compare={},
                        runs=[])
    run_log = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": {}, "cpu_seconds": {},
               "pages_written": 0}
    manifest.setdefault("runs", []).append(run_log)
    site = Site(out, loaded, layers, maps, params, seed, manifest, compare, progress)
    H.copy_css(out)
    if loaded.card and loaded.card.get("confusion_png"):
        src = loaded.path.with_name(loaded.card["confusion_png"])
        if src.exists() and not (out / "model_confusion.png").exists():
            shutil.copyfile(src, out / "model_confusion.png")
    site.save_manifest()
    site.write_index()
    written: list = []
    seconds = run_log["seconds"]

    cpu = run_log["cpu_seconds"]

    def timed(phase, fn, *args):
        t, c = time.perf_counter(), time.process_time()
        r = fn(*args)
        seconds[phase] = round(seconds.get(phase, 0.0) + time.perf_counter() - t, 3)
        cpu[phase] = round(cpu.get(phase, 0.0) + time.process_time() - c, 3)
        return r

    try:
        needed = {n: [m for m in maps[n] if not site.is_done(n, m)] for n in layers}
        timed("data", site.load_data)
        site.sel = {n: selectivity(site.data[n]["acts"], site.labels) for n in layers}
        for n in layers:
            manifest["layers"][n]["class_counts"] = [int(v) for v in site.sel[n][1]]
            manifest["layers"][n]["shape"] = list(loaded.layer(n).shape[1:])
        for n in layers:
            (out / n).mkdir(exist_ok=True)
            # the layer's sheet and compare page need every map; pages only the missing ones
            full = not (out / n / "sheet.png").exists()
            want = maps[n] if full else needed[n]
            if want:
                timed("oip", site.run_oips, n, want)
                timed("precursor", site.run_precursor, n, want)
            timed("compare", site.run_compare, n)
            site.record_status(n)
            site.write_compare_page(n)
            if full:
                timed("sheets", site.layer_sheet, n)
        site.save_manifest()
        t, c = time.perf_counter(), time.process_time()
        for n in layers:
            todo = needed[n]
            tick = site.tick(f"{n}: pages", len(todo))
            for k, m in enumerate(todo):
                site.write_map(n, m)
                written.append((n, m))
                run_log["pages_written"] = len(written)
                site.save_manifest()
                tick(1)
                if on_map:
                    on_map(n, m)
                if (k + 1) % PAGE_BATCH == 0:
                    site.write_index()
        seconds["pages"] = round(time.perf_counter() - t, 3)
        cpu["pages"] = round(time.process_time() - c, 3)
        manifest["complete"] = all(site.is_done(n, m) for n in layers for m in maps[n])
    finally:
        counts = site.counts()
        manifest["summary"] = counts
        site.save_manifest(pretty=True)
        site.write_index()
        if manifest.get("complete"):
            (out / MARKER).unlink(missing_ok=True)
    return GalleryResult(out, bool(manifest["complete"]), counts, written, dict(seconds))
