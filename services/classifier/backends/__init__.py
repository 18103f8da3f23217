"""Where verdicts come from: the local classifier, remote scorers, and the guards around them.

``base`` holds the one interface every backend implements; ``local`` the in-process
classifier; ``openai_moderation`` and ``http_scorer`` the optional remote scorers;
``combine`` the pure rules that merge a remote verdict with the local one; ``guard`` the
timeout-and-fallback shell; ``shadow`` the comparison runs; ``factory`` builds them all
from the settings.
"""

from services.classifier.backends.base import Backend, BackendError, Item

__all__ = ["Backend", "BackendError", "Item"]
