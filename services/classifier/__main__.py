"""python -m services.classifier"""

from __future__ import annotations

from services.classifier.app import create_app
from services.classifier.settings import ClassifierSettings
from shared.serve import serve

if __name__ == "__main__":
    settings = ClassifierSettings()
    serve(create_app(settings), settings, service="classifier")
