"""The JSON API of the explorer (described at ``/openapi.json``).

TensorFlow work goes to the worker thread (:meth:`Worker.call` for predict/explain, jobs
for the rest); decoding and checking inputs runs in a thread too; the event loop awaits.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from oipviz.serve.inputs import (
    BadInput,
    Prepared,
    decode_image,
    image_of_pixels,
    pixels_from_json,
    prepare,
)
from oipviz.serve.quick import check_map, explain_payload, map_data, parse_methods, predict_payload
from oipviz.serve.schemas import (
    DREAM_BODY,
    IMAGE_INPUT_BODY,
    ErrorBody,
    JobStarted,
    JobState,
    Model,
    OipRequest,
    PrecursorRequest,
)
from oipviz.serve.state import Conflict, NotFound, ServerState, Unsupported

api_router = APIRouter(prefix="/api", responses={"4XX": {"model": ErrorBody}})
KEEPALIVE = 10.0  # seconds between comment lines on a quiet event stream
STATS_WAIT = 60.0  # how long /api/maps waits for the dataset statistics at start-up


def _state(request: Request) -> ServerState:
    return request.app.state.oipviz


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


@api_router.get("/health", summary="Is the server up (and warm)?")
async def health(request: Request) -> dict:
    st = _state(request)
    return {
        "ok": True,
        "uptime_seconds": round(time.time() - st.started, 1),
        "models": {r: s.name for r, s in st.models.items()},
        **st.worker.status(),
    }


@api_router.get("/model", summary="Layers, maps/units, input geometry and convention, card")
async def model_info(request: Request, model: Model = "main") -> dict:
    st = _state(request)
    from oipviz.serve.work import PRECURSOR_DEFAULTS, dream_defaults

    served = st.served(model)
    return {
        **served.info(),
        "compare": st.models["compare"].info() if "compare" in st.models else None,
        "gallery": st.gallery.describe() if st.gallery else None,
        "defaults": {
            "oip": st.oip_defaults,
            "precursor": PRECURSOR_DEFAULTS,
            "dream": dream_defaults(served.loaded),
        },
    }


async def read_input(request: Request, preprocess: bool) -> tuple[Prepared, dict]:
    """The request's image (multipart ``image`` or JSON ``pixels``) as the model's input,
    and the body's other fields."""
    st = _state(request)
    geometry = st.models["main"].loaded.geometry
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        arr, fields = await asyncio.to_thread(pixels_from_json, await request.body())
        img, source = image_of_pixels(arr), f"pixels {arr.shape[1]}×{arr.shape[0]}"
    elif ctype == "multipart/form-data":
        async with request.form(max_files=1, max_fields=16) as form:
            up = form.get("image")
            if up is None or isinstance(up, str):
                raise BadInput('the form needs a file field "image"')
            data = await up.read()
            name = (up.filename or "upload")[:100]
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
        img = await asyncio.to_thread(decode_image, data, name)
        source = f"{name} ({img.size[0]}×{img.size[1]})"
    else:
        raise Unsupported(
            "send the image as multipart/form-data (field 'image') or JSON {\"pixels\": [[...]]}"
        )
    prep = await asyncio.to_thread(prepare, img, geometry, preprocess, source)
    return prep, fields


@api_router.post(
    "/predict",
    summary="Probabilities, class, preprocessed input and per-layer activations",
    openapi_extra={"requestBody": IMAGE_INPUT_BODY},
)
async def predict(
    request: Request,
    preprocess: Annotated[bool, Query(description="MNIST-style preprocessing")] = True,
    maps: Annotated[bool, Query(description="include every conv map (uint8 codes)")] = False,
    model: Model = "main",
) -> Response:
    st = _state(request)
    served = st.served(model)
    prep, _ = await read_input(request, preprocess)
    return _json(await st.worker.call(predict_payload, served, prep, maps))


@api_router.post(
    "/explain",
    summary="Attribution maps (saliency, gradcam, ig, ...) of the input",
    openapi_extra={"requestBody": IMAGE_INPUT_BODY},
)
async def explain(
    request: Request,
    preprocess: bool = True,
    method: Annotated[str | None, Query(description="e.g. saliency,gradcam")] = None,
    target: Annotated[str, Query(description="predicted or a class index")] = "predicted",
    model: Model = "main",
) -> Response:
    st = _state(request)
    served = st.served(model)
    prep, fields = await read_input(request, preprocess)
    methods = parse_methods(fields.get("method", method))
    tgt = str(fields.get("target", target)).strip()
    tgt_value = int(tgt) if tgt.lstrip("-").isdigit() else tgt
    return _json(await st.worker.call(explain_payload, served, prep, methods, tgt_value))


def _stats_error(served) -> str:
    """Why a model's dataset statistics are missing (its error, or that they still run)."""
    job = served.stats_job
    failed = job.error if job is not None and job.terminal else None
    return served.stats_error or failed or "still computing"


def _started(job) -> dict:
    return {
        "id": job.id,
        "state": job.state,
        "events": f"/api/jobs/{job.id}/events",
        "url": f"/api/jobs/{job.id}",
    }


@api_router.post("/oip", status_code=202, response_model=JobStarted, summary="Start a map's OIP")
async def start_oip(request: Request, body: OipRequest) -> dict:
    from oipviz.serve.work import oip_job

    st = _state(request)
    served = st.served(body.model)
    layer, m = check_map(served, body.layer, body.map)
    given = body.model_dump(exclude={"layer", "map", "model"}, exclude_none=True)
    p = {**st.oip_defaults, **given}
    key = (served.sha256, "oip", layer, m, tuple(sorted(p.items())))
    job = st.worker.submit("oip", oip_job(served, layer, m, p), _params(body, p), key)
    return _started(job)


@api_router.post(
    "/precursor", status_code=202, response_model=JobStarted, summary="Start a precursor search"
)
async def start_precursor(request: Request, body: PrecursorRequest) -> dict:
    from oipviz.serve.work import PRECURSOR_DEFAULTS, precursor_job

    st = _state(request)
    served = st.served(body.model)
    layer, m = check_map(served, body.layer, body.map)
    given = body.model_dump(exclude={"layer", "map", "model"}, exclude_none=True)
    p = {**PRECURSOR_DEFAULTS, "seed": 0, **given}
    key = (served.sha256, "precursor", layer, m, json.dumps(p, sort_keys=True))
    job = st.worker.submit("precursor", precursor_job(served, layer, m, p), _params(body, p), key)
    return _started(job)


def _params(body, p: dict) -> dict:
    return {"layer": body.layer, "map": body.map, "model": body.model, **p}


@api_router.post(
    "/dream",
    status_code=202,
    response_model=JobStarted,
    summary="Start a dream on a photo (multipart: image, layer, map, iters)",
    openapi_extra={"requestBody": DREAM_BODY},
)
async def start_dream(request: Request) -> dict:
    from oipviz.serve.inputs import dream_planes
    from oipviz.serve.work import dream_defaults, dream_job

    st = _state(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "multipart/form-data":
        raise Unsupported("send the photo as multipart/form-data (field 'image')")
    async with request.form(max_files=1, max_fields=16) as form:
        up = form.get("image")
        if up is None or isinstance(up, str):
            raise BadInput('the form needs a file field "image"')
        data, name = await up.read(), (up.filename or "photo")[:100]
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    role = fields.get("model", "main")
    if role not in ("main", "compare"):
        raise BadInput(f"model must be main or compare (got {role!r})")
    served = st.served(role)
    p = _dream_params(fields, dream_defaults(served.loaded))
    if p["map"] != "all":
        check_map(served, p["layer"], p["map"])
    else:
        served.loaded.unit_layer(p["layer"])
    img = await asyncio.to_thread(decode_image, data, name)
    side = max(served.loaded.geometry.shape[:2])
    planes, notes = await asyncio.to_thread(dream_planes, img, side)
    key = (served.sha256, "dream", hashlib.sha1(data).hexdigest(), json.dumps(p, sort_keys=True))
    job = st.worker.submit("dream", dream_job(served, planes, notes, p), dict(p, model=role), key)
    return _started(job)


def _dream_params(fields: dict, defaults: dict) -> dict:
    def integer(name: str, lo: int, hi: int, default):
        raw = fields.get(name)
        if raw is None or raw == "":
            return default
        try:
            v = int(raw)
        except ValueError:
            raise BadInput(f"{name} must be an integer (got {raw!r})") from None
        if not lo <= v <= hi:
            raise BadInput(f"{name} must be in {lo}–{hi} (got {v})")
        return v

    raw_map = str(fields.get("map", defaults["map"])).strip().lower()
    p = {
        "layer": str(fields.get("layer") or defaults["layer"])[:200],
        "map": "all" if raw_map == "all" else integer("map", 0, 1_000_000, defaults["map"]),
        "iters": integer("iters", 1, 20, defaults["iters"]),
        "seed": integer("seed", 0, 2**31 - 1, defaults["seed"]),
    }
    steps = integer("steps", 1, 500, None)
    if steps is not None:
        p["steps"] = steps
    return p


def _job(request: Request, job_id: str):
    job = _state(request).worker.get(job_id)
    if job is None:
        raise NotFound(f"no job {job_id[:80]!r} (finished jobs are kept for a while only)")
    return job


@api_router.get("/jobs/{job_id}", response_model=JobState, summary="A job's state and result")
async def job_state(request: Request, job_id: str) -> dict:
    return _job(request, job_id).snapshot()


@api_router.delete("/jobs/{job_id}", summary="Cancel a job (it stops within a block of steps)")
async def cancel_job(request: Request, job_id: str) -> dict:
    job = _job(request, job_id)
    if not _state(request).worker.cancel(job):
        raise Conflict(f"job {job.id} already ended ({job.state})")
    return {"id": job.id, "state": job.state, "cancel_requested": True}


@api_router.get("/jobs/{job_id}/files/{name}", summary="A file a job made (a dream's picture)")
async def job_file(request: Request, job_id: str, name: str) -> Response:
    job = _job(request, job_id)
    if name not in job.files:
        raise NotFound(f"job {job.id} has no file {name[:80]!r} (only recent jobs keep theirs)")
    data, media = job.files[name]
    disp = f'attachment; filename="oipviz-{job.id}-{name}"'
    return Response(data, media_type=media, headers={"Content-Disposition": disp})


@api_router.get(
    "/jobs/{job_id}/events",
    summary="Server-sent events: state, progress, frame/round (with images), done",
    response_class=StreamingResponse,
)
async def job_events(request: Request, job_id: str) -> StreamingResponse:
    job = _job(request, job_id)
    worker = _state(request).worker
    try:
        cursor = int(request.headers.get("last-event-id", "0"))
    except ValueError:
        cursor = 0

    async def stream():
        wake = worker.subscribe(job)
        seq = cursor
        try:
            yield "retry: 2000\n\n"
            while True:
                for n, name, data in worker.events_since(job, seq):
                    seq = n
                    yield f"id: {n}\nevent: {name}\ndata: {json.dumps(data)}\n\n"
                if job.terminal and not worker.events_since(job, seq):
                    return
                if worker.stopping or worker.closing:
                    return
                try:
                    await asyncio.wait_for(wake.wait(), KEEPALIVE)
                    wake.clear()
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            worker.unsubscribe(job, wake)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


@api_router.get(
    "/maps/{layer}/{map_index}", summary="A map's top-9 real digits, selectivity, gallery"
)
async def map_info(request: Request, layer: str, map_index: int, model: Model = "main") -> dict:
    st = _state(request)
    served = st.served(model)
    name, m = check_map(served, layer, map_index)
    t0 = time.perf_counter()
    job = served.stats_job
    while served.stats is None and job is not None and not job.terminal:
        if time.perf_counter() - t0 > STATS_WAIT:
            break
        await asyncio.sleep(0.1)
    data = await asyncio.to_thread(map_data, served, name, m)
    gallery = st.gallery.entry(name, m) if st.gallery and model == "main" else None
    return {
        "model": model,
        "layer": name,
        "map": m,
        "data": data,
        "data_error": None if data else _stats_error(served),
        "gallery": gallery,
    }
