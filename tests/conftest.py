"""The whole suite runs on the historic profile (docs/contract/geography.md): its 12
districts are what the generated streams and the published figures speak of. Tests of
today's geography (Hai Phong's 114 units, Ho Chi Minh City's 168) name their province."""

from __future__ import annotations

import os

os.environ["IOC_PROVINCE"] = "hai-duong-2024"
