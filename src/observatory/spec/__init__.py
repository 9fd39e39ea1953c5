"""The spec: the file model users write, its defaults, and the frozen `Spec` renderers read."""

from observatory.spec.load import SpecError, SpecInvalid, load, parse
from observatory.spec.types import Spec

__all__ = ["Spec", "SpecError", "SpecInvalid", "load", "parse"]
