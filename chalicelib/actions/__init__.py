"""Row actions on the Clients Table (Edit, Assign staff/group, Archive, Restore)
and their bulk forms (selected rows, transfer of a caseload).

`rows` holds the rules and the one-account writes, `bulk` the many-account
steps. Every change goes through people.accounts (the one write path) and is
recorded on the person's timeline and in the organisation's audit log, in the
same TransactWriteItems as the change itself.
"""
