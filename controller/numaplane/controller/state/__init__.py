"""What is stored: the keyspace, the record codec, the snapshot and views, the journal.

`keyspace` names every key; `codec` turns records into the JSON stored under them; a
`snapshot` is the cluster decoded at one revision (with revisions kept for guarded
transactions); `views` turns a snapshot into the immutable `ClusterView` policies read;
`journal` and `journal_progress` are the command journal every command passes through
before it is sent. Pure apart from the snapshot's one read.
"""
