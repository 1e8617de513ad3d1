"""Typed maps for the models: an item's map is read back as the types it was written with.

`MapOf(Entry)` is a map from ids (or names) to values of one attribute type: a
MapAttribute subclass for records (an organisation's API keys, its extra links), or
UnicodeAttribute for a map of texts (an activity's detail, an export's filters).
Reading gives a plain dict of typed values; one entry is written or removed by its
path, as with an untyped map: `Organisation.api_keys[key_id].set(entry)`.
"""
from typing import Any, Dict, Type

from pynamodb.attributes import Attribute, MapAttribute
from pynamodb.constants import MAP, NULL
from pynamodb.expressions.operand import Path


class MapOf(Attribute[Dict[str, Any]]):
    attr_type = MAP

    def __init__(self, of: Type[Attribute], **kwargs) -> None:
        super().__init__(**kwargs)
        self.of = of

    def _entry(self) -> Attribute:
        entry = self.of()
        if isinstance(entry, MapAttribute):
            entry._make_attribute()  # a MapAttribute used as an attribute, not as a value
        return entry

    def serialize(self, values: Dict[str, Any]) -> Dict[str, Any]:
        entry = self._entry()
        encoded = {}
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(entry, MapAttribute):
                value = self.of(**value)  # a plain dict is checked against the entry's type
            serialized = None if value is None else entry.serialize(value)
            # an empty text serializes to None: stored as NULL, read back as None (as ListAttribute does)
            encoded[str(key)] = {NULL: True} if serialized is None else {entry.attr_type: serialized}
        return encoded

    def deserialize(self, values: Dict[str, Any]) -> Dict[str, Any]:
        entry = self._entry()
        return {key: None if NULL in value else entry.deserialize(entry.get_value(value))
                for key, value in values.items()}

    def __getitem__(self, key: str) -> Path:
        """The path of one entry (set / remove / exists), or of a field inside it: `[key]["group_id"]`."""
        return Path(self.attr_path + [str(key)])
