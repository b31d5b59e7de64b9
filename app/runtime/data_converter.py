"""The data converter of every stagegate client (and so every worker): the default, failures read leniently.

The SDK turns an activity's failure into an exception before workflow code runs, and decodes the failure's
details eagerly: details another SDK encoded in a way this one cannot read (`temporal activity fail` from a Go
or Java client with a protobuf payload, a custom encoding) would fail that workflow task and every one after it,
and the stage's timeout would never take effect. Here a detail that does not decode is kept as the raw payload
(`RawValue`) instead: the failure still reaches the gate with its message and type, and the stage fails with them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import temporalio.api.common.v1
import temporalio.api.failure.v1
from temporalio.common import RawValue
from temporalio.converter import DataConverter, DefaultFailureConverter, PayloadConverter


class _KeepUndecodable(PayloadConverter):
    """Decodes like `inner`; payloads `inner` cannot decode come back as `RawValue`s instead of raising."""

    def __init__(self, inner: PayloadConverter) -> None:
        self._inner = inner

    def to_payloads(self, values: Sequence[Any]) -> list[temporalio.api.common.v1.Payload]:
        return self._inner.to_payloads(values)

    def from_payloads(
        self, payloads: Sequence[temporalio.api.common.v1.Payload], type_hints: list[type] | None = None
    ) -> list[Any]:
        try:
            return self._inner.from_payloads(payloads, type_hints)
        except Exception:  # noqa: BLE001  # whatever the sender encoded, the failure itself must get through
            return [RawValue(payload) for payload in payloads]


class LenientFailureConverter(DefaultFailureConverter):
    """The SDK's failure converter, except that failure details it cannot decode stay raw instead of raising."""

    def from_failure(
        self, failure: temporalio.api.failure.v1.Failure, payload_converter: PayloadConverter
    ) -> BaseException:
        """The exception for `failure`, its undecodable details kept as `RawValue`s."""
        return super().from_failure(failure, _KeepUndecodable(payload_converter))


DATA_CONVERTER = dataclasses.replace(DataConverter.default, failure_converter_class=LenientFailureConverter)
