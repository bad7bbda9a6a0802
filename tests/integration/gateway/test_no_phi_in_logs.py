"""Canary: a patient's name, MRN and birth date sent to and returned by the gateway never
appear in any log record (the gateway's own, uvicorn's, the app's), refusals included."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from app.core.logging_setup import configure_logging
from tests.integration.gateway.conftest import Clinic, Server
from tests.integration.gateway.test_fhir_rest import auth, phq9_response


def test_patient_name_never_reaches_the_logs(
    server: Server, clinic: Clinic, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    # the app's own log file and its filter, as `novamind gateway serve` runs with them
    log_file = configure_logging(tmp_path / "logs", logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    token = server.token(clinic.client)
    with server.client() as http:
        found = http.get("/fhir/Patient", params={"name": "Zebedee"}, headers=auth(token))
        assert "Zebedee" in found.text  # the response has it ...
        http.get("/fhir/Patient", params={"identifier": "MRN-100", "birthdate": "1981-04-02"},
                 headers=auth(token))  # fmt: skip
        http.get(f"/fhir/Patient/{clinic.theirs}", headers=auth(token))  # refused
        http.get("/fhir/Patient", params={"name": "Zebedee", "birthdate": "Canaryname"},
                 headers=auth(token))  # fmt: skip
        bad = {**phq9_response(clinic.mine), "text": {"status": "generated", "div": "Zebedee"}}
        bad["item"][0]["answer"] = [{"valueString": "Canaryname Zebedee"}]
        http.post("/fhir/QuestionnaireResponse", content=json.dumps(bad), headers=auth(token))
        http.post("/fhir/QuestionnaireResponse", content=b"{Zebedee", headers=auth(token))
    # the server side's records: everything but the test's own HTTP client
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in server_side)
    assert "GET /fhir/Patient -> 200" in text  # ... and the gateway did log each call
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = log_file.read_text(encoding="utf-8")
    assert "GET /fhir/Patient -> 200" in written  # the gateway's lines keep their values
    for canary in ("Zebedee", "Canaryname", "MRN-100", "1981-04-02"):
        assert canary not in text
        assert canary not in written
