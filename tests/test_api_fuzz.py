"""schemathesis against the OpenAPI document: generated requests (valid and not) to every
operation, over real HTTP, never get a 5xx nor a response outside the document."""

from __future__ import annotations

from dataclasses import replace

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from edge_agent.config import WalletSettings
from edge_agent.staff import create_api_key
from pos_bridge.openapi import openapi_document
from tests.http_server import serving
from tests.till_fixtures import make_till
from wallet.keyring import PassKeyRing
from wallet.keys import load_public_keys, write_signing_key

# Enough examples to reach every refusal branch, few enough for a 2-core CI machine.
MAX_EXAMPLES = 30
# What the issue asks (no 5xx, nothing outside the document) plus the auth check that
# replays each request without credentials. Not "positive data acceptance": the API
# refuses some schema-valid values on purpose (an unknown order number, a garbage query).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    ignored_auth,
]
SCHEMA = schemathesis.openapi.from_dict(openapi_document())
OPERATIONS = [
    result.ok()
    for result in SCHEMA.get_all_operations()
    if not result.ok().path.endswith("/events")  # an endless stream: covered elsewhere
]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_no_server_errors_and_answers_match_the_document(seeded, operation, tmp_path):
    # A store that can check wallet passes, so pass codes reach the verifier.
    write_signing_key(tmp_path / "keys", 1)
    wallet = WalletSettings(keys_dir=tmp_path / "keys")
    config = seeded.config.model_copy(update={"wallet": wallet})
    keys = PassKeyRing(load_public_keys(tmp_path / "keys"))
    till = make_till(replace(seeded, config=config, pass_keys=keys))
    auth = {"Authorization": f"Bearer {create_api_key(till.ctx, 'fuzz', 'supervisor')}"}

    with serving(till.app) as base_url:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def check(case):
            response = case.call(base_url=base_url, headers=auth)
            assert response.status_code < 500, response.text
            case.validate_response(response, checks=CHECKS, headers=auth,
                                   transport_kwargs={"base_url": base_url})  # fmt: skip

        try:
            check()
        finally:
            till.close()
