"""Uploaded files: read within a size limit and typed by their content, never by the client's word.

Multipart forms are pydantic models (:class:`MultipartForm`), so every field is validated before
a byte is stored; :func:`part_types` documents the media types each file part accepts.
"""

from __future__ import annotations

from typing import Any

from fastapi import UploadFile
from pydantic import BaseModel, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from auth_gateway.enrolment import Upload
from core.http.errors import ApiError

MULTIPART = "multipart/form-data"
# (offset, magic bytes) pairs that must all match; WAV and WebP share the RIFF container.
Magic = tuple[tuple[int, bytes], ...]
IMAGE_MAGIC: dict[Magic, str] = {
    ((0, b"\xff\xd8\xff"),): "image/jpeg",
    ((0, b"\x89PNG\r\n\x1a\n"),): "image/png",
    ((0, b"RIFF"), (8, b"WEBP")): "image/webp",
}
AUDIO_MAGIC: dict[Magic, str] = {
    ((0, b"RIFF"), (8, b"WAVE")): "audio/wav",
    ((0, b"fLaC"),): "audio/flac",
    ((0, b"OggS"),): "audio/ogg",
}

# A model file may weigh this many uploads (ONNX graphs are bigger than photos).
MODEL_UPLOAD_FACTOR = 20


def media_types(table: dict[Magic, str]) -> str:
    return ", ".join(table.values())


def sniff(data: bytes, table: dict[Magic, str]) -> str | None:
    """The media type the content says it is; the client's declared type is not trusted."""
    for parts, kind in table.items():
        if all(data[at : at + len(magic)] == magic for at, magic in parts):
            return kind
    return None


async def read_upload(upload: UploadFile, limit: int, table: dict[Magic, str], what: str) -> Upload:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "too_large", f"{what} is larger than {limit} bytes")
    if not data:
        raise ApiError(422, "empty_upload", f"{what} is empty")
    kind = sniff(data, table)
    if kind is None:
        raise ApiError(415, "unsupported_media", f"{what} is not one of: {media_types(table)}")
    return Upload(data=data, content_type=kind)


def part_types(**parts: str) -> dict[str, Any]:
    """``openapi_extra`` for a route: the media types each multipart file part accepts."""
    encoding = {name: {"contentType": types} for name, types in parts.items()}
    return {"requestBody": {"content": {"multipart/form-data": {"encoding": encoding}}}}


def _parts_are_never_null(schema: dict[str, Any]) -> None:
    # A multipart part is sent or left out: the document must not offer null as a value.
    for prop in schema.get("properties", {}).values():
        branches = prop.get("anyOf", [])
        kept = [branch for branch in branches if branch != {"type": "null"}]
        if len(branches) == 2 and len(kept) == 1:
            del prop["anyOf"]
            prop.update(kept[0])


class MultipartForm(BaseModel):
    """A ``multipart/form-data`` body: declare it with ``Form(media_type=MULTIPART)``."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        _parts_are_never_null(schema)
        return schema
