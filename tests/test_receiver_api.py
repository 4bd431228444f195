"""The receiver's public surface: a curated ``__all__`` whose names all exist."""

from __future__ import annotations

import inspect

import otel_camunda_telemetry.receiver as receiver


def test_all_names_exist_and_are_documented() -> None:
    assert receiver.__all__ == sorted(receiver.__all__, key=lambda n: (not n.isupper(), n))
    for name in receiver.__all__:
        obj = getattr(receiver, name)
        if isinstance(obj, type) or inspect.isfunction(obj):
            assert obj.__doc__, name


def test_private_modules_stay_private() -> None:
    public = {n for n in dir(receiver) if not n.startswith("_")}
    assert public - set(receiver.__all__) <= {"annotations"}
