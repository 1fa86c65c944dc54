"""Published results as data, with verbatim source quotes."""

from longmod.published.registry import (
    PublishedResult,
    available_trials,
    published_citation,
    published_descriptives,
    published_effects,
    published_results,
)

__all__ = [
    "PublishedResult", "available_trials", "published_citation", "published_descriptives",
    "published_effects", "published_results",
]
