"""Manage Groups: an organisation's groups, their names and members.

- `manage`: list (with member counts from the metrics counters), create,
  rename, delete. Names are unique per organisation regardless of case,
  enforced by a claim item in Lookup written in the same transaction.
  `choices(org_id)` is what every group picker shows (deleted groups vanish at
  once); `get_live_group` is what a write that sets a group checks.
- `ungroup`: deleting a group ungroups its members in chunks (a bounded step,
  safe to run twice) that a background job runs for large groups.
"""
