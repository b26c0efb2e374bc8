"""The OpenAPI document says what the server refuses: a request body that rejects unknown fields
(``forbid_unknown_fields``) is documented with ``additionalProperties: false``.

Litestar documents msgspec Structs without that flag; this plugin goes before its own Struct
plugin, builds the same schema and adds it, so generated clients and fuzzers send only what the
server takes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition


class ClosedStructSchemaPlugin(StructSchemaPlugin):
    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        return schema


#: ``security`` of an operation that takes no API credentials (``/health``, ``/metrics``: the
#: ops token, where one is set, is checked apart from the API's schemes).
NO_CREDENTIALS: list[dict[str, list[str]]] = [{}]
