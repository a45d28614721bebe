"""Request bodies of the JSON routes (pydantic: types, ranges and finite numbers checked
before anything runs; documented in ``/openapi.json``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SEED_MAX = 2**31 - 1
Model = Literal["main", "compare"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OipRequest(_Body):
    """One map's OIP; omitted settings are the gallery's (``GET /api/model``: defaults)."""

    layer: str = Field(min_length=1, max_length=200, examples=["conv3"])
    map: int = Field(ge=0, examples=[46])
    inits: int | None = Field(None, ge=1, le=64)
    steps: int | None = Field(None, ge=1, le=5000)
    range: Literal["valid", "free"] | None = None
    style: Literal["readable", "plain"] | None = None
    lr: float | None = Field(None, gt=0, le=100, allow_inf_nan=False)
    seed: int | None = Field(None, ge=0, le=SEED_MAX)
    model: Model = "main"


class PrecursorRequest(_Body):
    """One map's precursor search with the gallery's settings (forward screen of the 3×3
    grid of 3 grey values, top 2 refined)."""

    layer: str = Field(min_length=1, max_length=200, examples=["conv3"])
    map: int = Field(ge=0, examples=[4])
    steps: int | None = Field(None, ge=1, le=5000, description="refinement steps")
    top: int | None = Field(None, ge=1, le=16)
    seed: int | None = Field(None, ge=0, le=SEED_MAX)
    model: Model = "main"


class JobStarted(BaseModel):
    id: str
    state: str
    events: str
    url: str


class JobState(BaseModel):
    id: str
    kind: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    params: dict
    progress: dict
    result: dict | None
    error: str | None
    seconds: float | None


class ErrorBody(BaseModel):
    error: str
    status: int


#: the body of /api/predict and /api/explain, for the OpenAPI description
IMAGE_INPUT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "image": {"type": "string", "format": "binary"},
                    "method": {"type": "string", "description": "explain: e.g. saliency,gradcam"},
                    "target": {"type": "string", "description": "explain: predicted or 0-9"},
                },
                "required": ["image"],
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "pixels": {
                        "type": "array",
                        "items": {"type": "array", "items": {"type": "number"}},
                        "description": "H×W gray values in [0, 1] (8 to 1024 per side)",
                    },
                    "method": {"type": "string"},
                    "target": {"type": "string"},
                },
                "required": ["pixels"],
            }
        },
    },
}

DREAM_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "image": {"type": "string", "format": "binary"},
                    "layer": {"type": "string", "default": "conv3"},
                    "map": {"type": "string", "default": "56", "description": "index or all"},
                    "iters": {"type": "integer", "default": 4, "minimum": 1, "maximum": 20},
                    "steps": {"type": "integer", "minimum": 1, "maximum": 500},
                    "seed": {"type": "integer", "default": 0},
                    "model": {"type": "string", "enum": ["main", "compare"]},
                },
                "required": ["image"],
            }
        }
    },
}
