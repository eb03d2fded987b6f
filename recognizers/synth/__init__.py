"""Synthetic data we may ship: plates and street clips rendered from scratch (`matthan.recognizers.synth`).

- :mod:`.plates` renders flat plates (:func:`render_plate`); :mod:`.augment` degrades them like a camera
  (:func:`augment_plate`) for recogniser training.
- :mod:`.street` renders traffic on a street seen from a pole camera: :func:`make_street_clip` writes an
  H.264 MP4 and its ``.truth.json`` (:class:`.truth.ClipTruth`); :func:`iter_frames` yields the same frames
  with labels; :func:`render_scene` draws random labelled stills for detector training.

The pieces under them: :mod:`.glyphs` (a stroke font after the plate typeface), :mod:`.camera` (pinhole
camera on a pole), :mod:`.draw` (projected primitives), :mod:`.background` (the static street) and
:mod:`.vehicles` (low-poly cars and motorbikes with riders).
"""

from __future__ import annotations

from .augment import AugmentedPlate, augment_plate
from .plates import RenderedPlate, render_plate
from .street import iter_frames, make_street_clip, render_scene
from .truth import ClipTruth

__all__ = [
    "AugmentedPlate",
    "ClipTruth",
    "RenderedPlate",
    "augment_plate",
    "iter_frames",
    "make_street_clip",
    "render_plate",
    "render_scene",
]
