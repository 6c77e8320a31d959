"""docs/targets.md is generated from the settings models and must not drift from them."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, create_model

from portable.providers import reference
from portable.providers.registry import REGISTRY, settings_model

DOC = Path(__file__).resolve().parents[2] / "docs" / "targets.md"


def test_checked_in_reference_is_current() -> None:
    assert DOC.read_text() == reference.reference(), "docs/targets.md is stale: python -m portable.providers.reference > docs/targets.md"


def test_every_setting_of_every_provider_is_documented() -> None:
    text = DOC.read_text()
    for name in REGISTRY:
        for setting in settings_model(name).model_fields:
            alias = settings_model(name).model_fields[setting].alias or setting
            assert f"| `{alias}` |" in text, f"{name}.{alias} missing from docs/targets.md"
    # the names the old hand-written table used, which the models reject, are gone
    assert "`service_type`" not in text and "| `size` |" not in text


def test_a_changed_model_makes_the_reference_differ(monkeypatch) -> None:
    """The staleness check can fail: a new setting changes the generated text."""
    before = reference.reference()
    grown = create_model("DockerSettings", __base__=settings_model("docker"), extra_knob=(int, Field(1, description="new")))
    monkeypatch.setattr(reference, "settings_model", lambda n: grown if n == "docker" else settings_model(n))
    after = reference.reference()
    assert after != before and "| `extra_knob` | integer | `1` | new |" in after
