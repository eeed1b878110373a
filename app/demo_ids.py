"""Fixed ids of the `onward serve --demo` data set, named in the OpenAPI examples.

The demo makes every id as UUID 5 of a name (``app.demo._id``), so they are the same on
every machine and an example that names one succeeds as it stands against the demo.
``tests/api/test_generated_client.py`` holds these to the demo. This module imports nothing:
schema modules read it without pulling in the demo loader.
"""

from __future__ import annotations

# The demo partner organisation, "Thames Valley Probation partner" (client `demo-partner`).
PARTNER_ORGANISATION_ID = "8f3e241a-abe8-5ee7-8132-0e8374957dc6"
# "Meet at the gate and first-day support", published by "Thames Valley Through the Gate",
# the organisation of the demo provider client (`demo-provider`).
GATE_OFFER_ID = "aff085f0-784b-5202-b4a0-ddfb5fa68173"
# "Travel to your first appointments", by the same provider (the PUT example's offer).
TRAVEL_OFFER_ID = "b9d4949a-43d5-5506-961f-7a7d1d12228f"
# The demo leavers' references and PINs, printed by `onward serve --demo`.
LEAVER_REFERENCE = "ONW-DEM0-0001"
LEAVER_PIN = "482915"

# The demo partner's registered redirect URIs (authorization code flow, API.md §7): the
# pushed-request example uses the first; the second suits a local partner app.
PARTNER_REDIRECT_URIS = ("https://partner.example.org/callback", "http://127.0.0.1:8765/callback")
