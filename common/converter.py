"""The project's Temporal data converter: pydantic JSON payloads, encrypted by the AES-GCM codec (codec.py).

Failure messages and stack traces are moved into encoded (hence encrypted) attributes as well, since a
validation error may quote the input it rejected (an ID number, a phone). Clients with this converter see
them decoded; the Web UI shows them through the codec server (`python -m clients.codec_server`).
"""

from __future__ import annotations

import dataclasses

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from common.codec import make_codec
from common.settings import Settings


def make_data_converter(settings: Settings | None = None) -> DataConverter:
    """The converter every client and worker of this project uses: pydantic JSON + AES-GCM payload codec.

    Keys come from `settings` (default: the process settings); see `common.codec` for key sources.
    """
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=make_codec(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
