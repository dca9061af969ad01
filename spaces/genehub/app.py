"""The genehub Space on Hugging Face: a thin launcher over `genehub.space`.

Configure it with Space variables (see genehub/space/config.py): GENEHUB_REGISTRY (default: the Hub,
`hub`), GENEHUB_HOSTS, GENEHUB_ZOO, GENEHUB_TRUST. Locally, prefer `genehub space --registry ...`.
Deploy the folder written by `genehub space --export DIR` (it carries genehub next to this file), not
this folder alone: see README.md.
"""

from __future__ import annotations

import os

from genehub.space import SpaceConfig, create_app

config = SpaceConfig.from_env()
if config.registry is None and os.environ.get("SPACE_ID"):  # on Hugging Face Spaces, browse the Hub
    config.registry = "hub"
demo = create_app(config)

if __name__ == "__main__":
    demo.launch()
