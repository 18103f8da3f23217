"""One module per platform: a pure ``parse`` and a verifier behind the ``Adapter`` protocol."""
