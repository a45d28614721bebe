"""The gallery's settings as small dataclasses: the OIP probe, the precursor that rescues
the maps random inits miss (:class:`~oipviz.compute.precursor_settings.RescueSettings`), the
feature-space page, and the parts that are optional."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from oipviz.compute.precursor_settings import RescueSettings
from oipviz.compute.rescue import PROBE_INITS, PROBE_PLATEAU, PROBE_RANGE, PROBE_STEPS, PROBE_STYLE
from oipviz.core.precision import check as check_precision

FEATURE_SAMPLES = 2000


#: the default precursor as a dict (``dict(PRECURSOR_DEFAULTS, top=...)``)
PRECURSOR_DEFAULTS = RescueSettings().as_dict()


@dataclass(frozen=True)
class FeatureSpaceSettings:
    """``feature_space.html``: the embedding ``method`` (tsne or pca) of ``samples``
    digits."""

    method: str = "tsne"
    samples: int = FEATURE_SAMPLES


@dataclass(frozen=True)
class GallerySettings:
    """What a gallery computes and shows.

    ``inits``, ``steps``, ``lr``, ``range_mode``, ``style``, ``seed``, ``precision``: the
    OIP probe (:func:`oipviz.compute.oip.oip`; the rescue probe's defaults: valid range,
    readable style); ``plateau``: the probe's plateau stop (0: every init takes every
    step).  The precursor's images stay free.  ``precursor``: None: no rescue,
    dead maps stay dead.  ``data``: the user's images for the statistics, the top images,
    the misclassified page and the feature space (a folder with a subfolder per class, or
    an .npz; None: the model's data set).  ``data_limit``: images of the statistics.  ``explain``:
    Grad-CAM strips on the map pages and ``misclassified.html``.  ``feature_space``: None:
    no ``feature_space.html``.
    """

    inits: int = PROBE_INITS
    steps: int = PROBE_STEPS
    lr: float = 0.02
    range_mode: str = PROBE_RANGE
    style: str = PROBE_STYLE
    seed: int = 0
    precision: str = "float32"
    plateau: float = PROBE_PLATEAU
    precursor: RescueSettings | None = RescueSettings()
    data: str | None = None
    data_limit: int | None = 5000
    explain: bool = True
    feature_space: FeatureSpaceSettings | None = FeatureSpaceSettings()

    @classmethod
    def from_options(
        cls,
        *,
        precursor: dict | RescueSettings | None = PRECURSOR_DEFAULTS,
        feature_space: bool = True,
        feature_method: str = "tsne",
        feature_samples: int = FEATURE_SAMPLES,
        **probe,
    ) -> GallerySettings:
        """From :func:`~oipviz.gallery.site.build_gallery`'s keyword options.

        Parameters
        ----------
        precursor : dict, RescueSettings or None
            A dict may give only some fields (the others: :data:`PRECURSOR_DEFAULTS`).
        feature_space : bool
            Write ``feature_space.html``.
        feature_method, feature_samples
            Its embedding method and number of digits.
        **probe
            The other fields (``inits``, ``steps``, ``lr``, ``range_mode``, ``style``,
            ``seed``, ``precision``, ``plateau``, ``data``, ``data_limit``, ``explain``).

        Returns
        -------
        GallerySettings
        """
        if isinstance(precursor, dict):
            precursor = RescueSettings.from_dict(precursor)
        fs = FeatureSpaceSettings(feature_method, feature_samples) if feature_space else None
        return cls(precursor=precursor, feature_space=fs, **probe)

    def params(self, dataset: str) -> dict:
        """The settings as the manifest and the pages state them.

        Parameters
        ----------
        dataset : str
            The model's dataset (mnist, fashion_mnist, shapes) or the user's data path.

        Returns
        -------
        dict
            inits, steps, lr, range, style, seed, precursor (dict or None), dataset,
            explain, feature_space (dict or None), precision, plateau.
        """
        return dict(
            inits=self.inits,
            steps=self.steps,
            lr=self.lr,
            range=self.range_mode,
            style=self.style,
            seed=self.seed,
            precursor=None if self.precursor is None else self.precursor.as_dict(),
            dataset=dataset,
            explain=self.explain,
            feature_space=None if self.feature_space is None else asdict(self.feature_space),
            precision=check_precision(self.precision),
            plateau=self.plateau,
        )
