"""Maps stored in items are typed (chalicelib.core.attributes.MapOf and MapAttribute
subclasses): what was written is read back with its types, a wrong field is refused
before anything is written, and one entry is written or removed by its path."""
import pytest
from pynamodb.attributes import MapAttribute

from chalicelib.activity import api_keys, timeline
from chalicelib.core.models import (
    Activity,
    ApiKeyEntry,
    ExtraLinkEntry,
    Export,
    Lookup,
    Organisation,
)
from chalicelib.invitations import links, suppression
from chalicelib.people import organisations
from chalicelib.people.accounts import Viewer


def _untyped_maps() -> list:
    """Every attribute of every model that is a MapAttribute without declared fields."""
    from chalicelib.core.models import ALL_MODELS

    found = []
    for model in ALL_MODELS:
        for name, attribute in model.get_attributes().items():
            if isinstance(attribute, MapAttribute) and not type(attribute).get_attributes():
                found.append(f"{model.__name__}.{name}")
    return found


def test_no_model_keeps_an_untyped_map():
    assert _untyped_maps() == []


def test_api_keys_and_their_lookup_are_read_back_typed(org):
    key, secret = api_keys.create_key(Viewer.of(org.admin), "Attendance")
    entry = organisations.get_organisation(org.org_id).api_keys[key.key_id]
    assert isinstance(entry, ApiKeyEntry)
    assert (entry.label, entry.hint, entry.created_by) == ("Attendance", key.hint, key.created_by)
    assert api_keys.authenticate(f"Bearer {secret}").label == "Attendance"
    api_keys.revoke_key(Viewer.of(org.admin), key.key_id)
    assert organisations.get_organisation(org.org_id).api_keys == {}


def test_extra_links_keep_their_placement_typed(org, group):
    org_item = organisations.get_organisation(org.org_id)
    token = links.create_extra_link(org_item, "Ada", group_id=group.group_id, days="3", max_uses="2")
    stored = organisations.get_organisation(org.org_id).extra_links
    (entry,) = stored.values()
    assert isinstance(entry, ExtraLinkEntry) and entry.group_id == group.group_id and entry.max_uses == 2
    link = links.join_link(token)
    assert (link.group_id, link.staff_id) == (group.group_id, None)
    # Deleting the group takes it out of both copies, field by field.
    assert links.forget_group(org.org_id, group.group_id) == 1
    assert links.join_link(token).group_id is None
    assert next(iter(organisations.get_organisation(org.org_id).extra_links.values())).group_id is None


def test_a_wrong_field_in_a_typed_entry_is_refused_before_writing(org):
    item = Organisation.get(org.org_id)
    item.api_keys = {"k1": {"label": "x", "hint": "h", "created_at": "t", "created_by": "b", "hash": "h",
                            "colour": "red"}}
    with pytest.raises((AttributeError, ValueError)):
        item.save()
    assert Organisation.get(org.org_id).api_keys == {}


def test_activity_detail_and_export_filters_are_maps_of_texts(org):
    activity = timeline.record(org.org_id, org.admin.account_id, "note", days=3, empty="")
    (read,) = [a for a in Activity.query(activity.account_key) if a.at_id == activity.at_id]
    assert read.detail == {"days": "3", "empty": ""}
    Export(org_id=org.org_id, export_id="e1", owner_id=org.admin.account_id, filters={"role": "client"}).save()
    assert Export.get(org.org_id, "e1").filters == {"role": "client"}


def test_a_suppression_says_why(org):
    suppression.mark_suppressed("gone@example.org", "bounced", "550 no such user")
    found = Lookup.get(suppression.suppression_key("gone@example.org"))
    assert (found.suppression.reason, found.suppression.detail) == ("bounced", "550 no such user")
