"""Helpers for talking to the certificate store's API in tests, e2e and benchmarks: tokens from the
embedded test broker (client credentials) and realistic request bodies."""
from __future__ import annotations

import base64
import copy
import json
from datetime import date, datetime, timedelta
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "example-load.json"
SECRETS = {"journal-demo": "dev-journal-secret", "webcert-demo": "dev-webcert-secret", "fk-demo": "dev-fk-secret"}
PATIENT = "198004129832"  # Skatteverket's test series; the example document's patient

UNIT = {"hsa_id": "TSTNMT2321000156-APVE", "name": "Vårdcentralen API", "address": "Apivägen 1",
        "postal_code": "11122", "city": "Apistad", "phone": "010-111 11 11"}
PROVIDER = {"hsa_id": "TSTNMT2321000156-APVG", "name": "Region API"}
ISSUER = {"hsa_id": "TSTNMT2321000156-APL1", "given_name": "Alva", "family_name": "Apisson", "title": "Läkare"}


def basic(client_id: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{SECRETS[client_id]}".encode()).decode()


def token(http, client_id: str = "journal-demo", scope: str | None = None, prefix: str = "") -> str:
    """An access token from the test broker; `http` is a Flask test client or a requests session
    (then `prefix` is the server's base URL)."""
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    response = http.post(f"{prefix}/testbroker/api/token", data=data, headers={"Authorization": basic(client_id)})
    assert response.status_code == 200, getattr(response, "text", response)
    body = response.json() if callable(response.json) else response.json
    return body["access_token"]


def bearer(access_token: str) -> dict:
    return {"Authorization": f"Bearer {access_token}"}


def fk7804_content(start: date, days: int = 28, degree: int = 100) -> dict:
    """A valid FK7804 content whose one sick-leave period starts on `start`."""
    content = copy.deepcopy(json.loads(EXAMPLE.read_text(encoding="utf-8"))["certificates"][0]["content"])
    content["basis"] = [{"type": "UNDERSOKNING_FYSISKT", "date": start.isoformat()}]
    content["sick_leave_periods"] = [{"start": start.isoformat(), "end": (start + timedelta(days=days - 1)).isoformat(),
                                      "degree": degree}]
    return content


def registration(cid: str, signed: datetime, *, patient: str = PATIENT, unit: dict | None = None,
                 provider: dict | None = None, issuer: dict | None = None, days: int = 28, **extra) -> dict:
    """A registerCertificate body for an FK7804 signed at `signed`, its period starting that day."""
    body = {"id": cid, "type": "FK7804", "version": "2.0", "patient": patient,
            "signed": signed.replace(microsecond=0).isoformat(),
            "issuer": dict(issuer or ISSUER), "unit": dict(unit or UNIT), "provider": dict(provider or PROVIDER),
            "content": fk7804_content(signed.date(), days)}
    body.update(extra)
    return body
